//! Who is shopping, and proof that a form was posted from one of our pages.
//!
//! - The session is the User Service's access token in the `sf_session` cookie: `HttpOnly`
//!   (no script reads it), `SameSite=Lax` (not sent on cross-site posts), `Secure` when the
//!   request came over TLS (directly or per `X-Forwarded-Proto` from the gateway). Each request
//!   validates it through the runtime's cached `/validate-token` client; a token that stopped
//!   being valid is dropped and the page says the session expired.
//! - CSRF: a random `sf_csrf` cookie per browser, and in every form a token that is the HMAC of
//!   that cookie and the session cookie under `STOREFRONT_CSRF_SECRET` (a signed double-submit).
//!   A cross-site page can neither read the cookies nor compute the HMAC, and a cookie planted
//!   by a sibling domain is useless without the victim's session. Every POST is checked before
//!   its handler runs.

use std::sync::Arc;

use hmac::{Hmac, KeyInit, Mac};
use salvo::http::cookie::{Cookie, SameSite};
use salvo::prelude::*;
use service_runtime::auth::{AuthClient, AuthError};
use service_runtime::config::Secret;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::config::SecureCookies;
// Defined below both this module and the views, which render for a visitor and name the
// form field; re-exported so the paths callers know keep working.
use crate::views::errors::ErrorPage;
pub use crate::visitor::{CSRF_FIELD, Visitor};

pub const SESSION_COOKIE: &str = "sf_session";
const CSRF_COOKIE: &str = "sf_csrf";

/// Cookie and CSRF settings, shared by the hoop and the handlers that log in and out.
#[derive(Debug)]
pub struct Sessions {
    pub auth: Arc<AuthClient>,
    pub csrf_secret: Secret,
    pub secure: SecureCookies,
}

impl Sessions {
    /// The form token for a browser's CSRF cookie and session cookie: a planted CSRF cookie
    /// alone is worth nothing without the victim's session.
    fn csrf_token(&self, cookie_value: &str, session: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.csrf_secret.expose().as_bytes())
            .expect("HMAC takes a key of any length");
        mac.update(b"storefront-csrf:");
        mac.update(cookie_value.as_bytes());
        mac.update(b"|");
        mac.update(session.as_bytes());
        hex(&mac.finalize().into_bytes())
    }

    fn secure(&self, req: &Request) -> bool {
        match self.secure {
            SecureCookies::Always => true,
            SecureCookies::Never => false,
            SecureCookies::Auto => {
                req.uri().scheme_str() == Some("https")
                    || req
                        .header::<String>("x-forwarded-proto")
                        .is_some_and(|proto| proto.eq_ignore_ascii_case("https"))
            }
        }
    }

    fn cookie(&self, req: &Request, name: &'static str, value: String) -> Cookie<'static> {
        let mut cookie = Cookie::new(name, value);
        cookie.set_path("/");
        cookie.set_http_only(true);
        cookie.set_same_site(SameSite::Lax);
        cookie.set_secure(self.secure(req));
        cookie
    }

    /// Starts a session holding `token`.
    pub fn log_in(&self, req: &Request, res: &mut Response, token: String) {
        res.add_cookie(self.cookie(req, SESSION_COOKIE, token));
    }

    /// Ends the session in this browser.
    pub fn log_out(&self, req: &Request, res: &mut Response) {
        let mut cookie = self.cookie(req, SESSION_COOKIE, String::new());
        cookie.make_removal();
        res.add_cookie(cookie);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The hoop in front of every page: reads the session and the CSRF cookie (issuing one to a new
/// browser), refuses a POST whose form token does not match, and provides a [`Visitor`].
#[derive(Debug, Clone)]
pub struct LoadSession(pub Arc<Sessions>);

#[async_trait]
impl Handler for LoadSession {
    async fn handle(
        &self,
        req: &mut Request,
        depot: &mut Depot,
        res: &mut Response,
        ctrl: &mut FlowCtrl,
    ) {
        let sessions = &self.0;
        let csrf_cookie = match req.cookie(CSRF_COOKIE).map(|c| c.value().to_owned()) {
            Some(value) if value.len() == 64 => value,
            _ => {
                let value = hex(&rand::random::<[u8; 32]>());
                res.add_cookie(sessions.cookie(req, CSRF_COOKIE, value.clone()));
                value
            }
        };
        let session = req
            .cookie(SESSION_COOKIE)
            .map(|c| c.value().to_owned())
            .unwrap_or_default();
        let csrf_token = sessions.csrf_token(&csrf_cookie, &session);
        if req.method() == salvo::http::Method::POST {
            let sent = req.form::<String>(CSRF_FIELD).await.unwrap_or_default();
            if !bool::from(sent.as_bytes().ct_eq(csrf_token.as_bytes())) {
                tracing::warn!(path = %req.uri().path(), "form refused: CSRF token mismatch");
                ErrorPage::Forbidden.render(res, &Visitor::default());
                ctrl.skip_rest();
                return;
            }
        }
        let mut visitor = Visitor {
            user: None,
            csrf_token,
            expired: false,
        };
        if !session.is_empty() {
            match sessions.auth.validate(&session).await {
                Ok(caller) => visitor.user = Some((session, caller)),
                Err(AuthError::Unavailable) => {
                    // Browsing the catalogue does not need the account service; pages that do
                    // need a user ask the visitor to log in and say why it failed.
                    tracing::warn!("account service unavailable: session not checked");
                }
                Err(_) => {
                    visitor.expired = true;
                    sessions.log_out(req, res);
                    // The browser drops the session cookie: its forms must match that.
                    visitor.csrf_token = sessions.csrf_token(&csrf_cookie, "");
                }
            }
        }
        depot.insert_typed(visitor);
    }
}

/// The visitor [`LoadSession`] provided.
pub fn visitor(depot: &Depot) -> &Visitor {
    depot
        .get_typed::<Visitor>()
        .expect("LoadSession runs in front of every page")
}

#[cfg(test)]
mod tests {
    use super::*;
    use service_runtime::auth::AuthConfig;

    fn sessions(secret: &str) -> Sessions {
        service_runtime::server::install_crypto_provider();
        Sessions {
            auth: AuthClient::new(&AuthConfig::default()).unwrap(),
            csrf_secret: Secret::new(secret),
            secure: SecureCookies::Auto,
        }
    }

    #[test]
    fn csrf_tokens_depend_on_both_cookies_and_the_secret() {
        let one = sessions("a-secret-of-at-least-thirty-two-bytes");
        let other = sessions("another-secret-of-at-least-thirty-two");
        let token = one.csrf_token("cookie", "session");
        assert_eq!(token, one.csrf_token("cookie", "session"));
        assert_ne!(token, one.csrf_token("cookie2", "session"));
        assert_ne!(token, one.csrf_token("cookie", "session2"));
        assert_ne!(token, other.csrf_token("cookie", "session"));
        assert_eq!(token.len(), 64);
    }
}
