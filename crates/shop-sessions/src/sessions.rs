//! Who is shopping, and proof that a form was posted from one of our pages.
//!
//! - The `sf_session` cookie holds a random session id, never a token: the User Service's
//!   access token stays server-side in the [`SessionStore`] (Redis, shared by the replicas).
//!   The cookie is `HttpOnly` (no script reads it), `SameSite=Lax` (not sent on cross-site
//!   posts), `Secure` when the request came over TLS (directly or per `X-Forwarded-Proto` from
//!   the gateway). Each request loads the session and validates its token through the
//!   runtime's cached `/validate-token` client; an unknown id or a token that stopped being
//!   valid is dropped and the page says the session expired. Logging in always issues a new id
//!   (a pre-login id is never promoted: no session fixation); logging out deletes it at once.
//! - CSRF: a random `sf_csrf` cookie per browser, and in every form a token that is the HMAC of
//!   that cookie and the session cookie under `STOREFRONT_CSRF_SECRET` (a signed double-submit).
//!   A cross-site page can neither read the cookies nor compute the HMAC, and a cookie planted
//!   by a sibling domain is useless without the victim's session. Every POST is checked before
//!   its handler runs ([`Sessions::visit`]); what a refused form gets is the caller's page.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use salvo::http::cookie::{Cookie, SameSite};
use salvo::{Request, Response};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use shop_auth_client::{AuthClient, AuthError, Caller};
use shop_config::Secret;
use subtle::ConstantTimeEq;

use crate::store::{SessionStore, StoreUnavailable, hex};
use crate::visitor::{CSRF_FIELD, Visitor};

const SESSION_COOKIE: &str = "sf_session";
const CSRF_COOKIE: &str = "sf_csrf";

/// When cookies get the `Secure` attribute: `auto` when the request came over TLS (directly or
/// per `X-Forwarded-Proto`), `always` or `never`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SecureCookies {
    Auto,
    Always,
    Never,
}

shop_config::setting_value_by_serde_name!(SecureCookies);

/// A POST whose form token does not match its cookies: not posted from one of our pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the form's CSRF token does not match")]
pub struct CsrfMismatch;

/// Cookie and CSRF settings, shared by what runs in front of every page and the handlers that
/// log in and out.
#[derive(Debug)]
pub struct Sessions {
    pub auth: Arc<AuthClient>,
    pub store: SessionStore,
    pub csrf_secret: Secret,
    pub secure: SecureCookies,
}

/// What a session cookie stands for.
enum Resolved {
    User(String, Caller),
    /// Ended, expired, never issued, or its token is no longer accepted.
    Gone,
    /// Redis or the User Service cannot say.
    Unknown,
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

    /// Starts a new session holding `token` (which lives `ttl`) and ends the one this browser
    /// had, if any: a login never keeps an id that existed before it.
    pub async fn log_in(
        &self,
        req: &Request,
        res: &mut Response,
        token: String,
        ttl: Duration,
    ) -> Result<(), StoreUnavailable> {
        if let Some(previous) = req.cookie(SESSION_COOKIE)
            && let Err(error) = self.store.end(previous.value()).await
        {
            tracing::warn!(error = %error, "the previous session was not ended at login");
        }
        let id = self.store.create(token, ttl).await?;
        res.add_cookie(self.cookie(req, SESSION_COOKIE, id));
        Ok(())
    }

    /// Ends the session this browser's cookie names, checked or not, everywhere (its key and
    /// its live streams on every replica), then in this browser. When the store cannot be
    /// reached the cookie stays, so the person can try again rather than believe a session is
    /// gone that still works.
    pub async fn log_out(&self, req: &Request, res: &mut Response) -> Result<(), StoreUnavailable> {
        if let Some(session) = req.cookie(SESSION_COOKIE) {
            self.store.end(session.value()).await?;
        }
        self.drop_cookie(req, res);
        Ok(())
    }

    fn drop_cookie(&self, req: &Request, res: &mut Response) {
        let mut cookie = self.cookie(req, SESSION_COOKIE, String::new());
        cookie.make_removal();
        res.add_cookie(cookie);
    }

    async fn resolve(&self, session: &str) -> Resolved {
        let stored = match self.store.load(session).await {
            Ok(Some(stored)) => stored,
            Ok(None) => return Resolved::Gone,
            Err(error) => {
                tracing::warn!(error = %error, "session not loaded");
                return Resolved::Unknown;
            }
        };
        match self.auth.validate(&stored.token).await {
            Ok(caller) => Resolved::User(stored.token, caller),
            Err(AuthError::Unavailable) => {
                tracing::warn!("account service unavailable: session not checked");
                Resolved::Unknown
            }
            Err(_) => {
                // The token was revoked or expired before its key did: nothing can revive it.
                if let Err(error) = self.store.end(session).await {
                    tracing::warn!(error = %error, "a dead session was not deleted");
                }
                Resolved::Gone
            }
        }
    }

    /// What a page needs before its handler runs: reads the session and the CSRF cookie
    /// (issuing one to a new browser), refuses a POST whose form token does not match, and
    /// gives the [`Visitor`]. Cookies it sets are on `res` either way.
    ///
    /// # Errors
    /// [`CsrfMismatch`] for a POST whose form token does not match the cookies.
    pub async fn visit(
        &self,
        req: &mut Request,
        res: &mut Response,
    ) -> Result<Visitor, CsrfMismatch> {
        let csrf_cookie = match req.cookie(CSRF_COOKIE).map(|c| c.value().to_owned()) {
            Some(value) if value.len() == 64 => value,
            _ => {
                let value = hex(&rand::random::<[u8; 32]>());
                res.add_cookie(self.cookie(req, CSRF_COOKIE, value.clone()));
                value
            }
        };
        let session = req
            .cookie(SESSION_COOKIE)
            .map(|c| c.value().to_owned())
            .unwrap_or_default();
        let csrf_token = self.csrf_token(&csrf_cookie, &session);
        if req.method() == salvo::http::Method::POST {
            let sent = req.form::<String>(CSRF_FIELD).await.unwrap_or_default();
            if !bool::from(sent.as_bytes().ct_eq(csrf_token.as_bytes())) {
                tracing::warn!(path = %req.uri().path(), "form refused: CSRF token mismatch");
                return Err(CsrfMismatch);
            }
        }
        let mut visitor = Visitor {
            csrf_token,
            ..Visitor::default()
        };
        if !session.is_empty() {
            match self.resolve(&session).await {
                Resolved::User(token, caller) => {
                    visitor.user = Some((token, caller));
                    visitor.session = Some(session);
                }
                Resolved::Unknown => {
                    // Browsing the catalogue needs no account; pages that need a user say the
                    // account service is unavailable. The cookie stays: it may be fine.
                    visitor.account_unavailable = true;
                }
                Resolved::Gone => {
                    visitor.expired = true;
                    self.drop_cookie(req, res);
                    // The browser drops the session cookie: its forms must match that.
                    visitor.csrf_token = self.csrf_token(&csrf_cookie, "");
                }
            }
        }
        Ok(visitor)
    }
}

#[cfg(test)]
mod tests {
    use shop_auth_client::AuthConfig;
    use shop_redis::{Redis, RedisConfig};

    use super::*;

    fn sessions(secret: &str) -> Sessions {
        shop_http::server::install_crypto_provider();
        Sessions {
            auth: AuthClient::new(&AuthConfig::default()).unwrap(),
            store: SessionStore::new(Redis::new(&RedisConfig::default()).unwrap(), "unit:"),
            csrf_secret: Secret::new(secret),
            secure: SecureCookies::Auto,
        }
    }

    #[tokio::test]
    async fn csrf_tokens_depend_on_both_cookies_and_the_secret() {
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
