//! Service-to-service credentials for internal routes (stock reservations, say) that end users
//! must never reach with their own token.
//!
//! The caller sends `X-Service-Token: <SERVICE_TOKEN>`; [`RequireServiceToken`] compares it in
//! constant time and answers 401 problem+json when it is missing or wrong. A user's JWT is not
//! accepted there: holding an account, even an admin one, does not make anyone a service.
//! `SERVICE_TOKEN` is shared by the services of one deployment, like a database password. In the
//! development profile it defaults to [`DEVELOPMENT_SERVICE_TOKEN`]; in production an unset
//! token leaves the service running with its internal routes shut (503, logged), and the
//! development value or a short one stops start-up.

use salvo::http::{HeaderMap, StatusCode};
use salvo::prelude::*;
use subtle::ConstantTimeEq;

use crate::problem::Problem;
use shop_config::{ConfigError, Profile, Secret};

pub use crate::headers::SERVICE_TOKEN_HEADER;
/// The credential every service uses under `APP_PROFILE=development`.
pub const DEVELOPMENT_SERVICE_TOKEN: &str = "dev-service-token";
/// Shorter tokens are refused in production: they can be guessed.
pub const MIN_TOKEN_BYTES: usize = 16;

shop_config::settings_section! {
    /// Service credential
    pub struct ServiceTokenConfig {
        /// Credential of the internal routes, and beside which a caller's `X-Client-IP` is
        /// believed, shared by the services of one deployment, at least 16 bytes in production.
        #[shown("`dev-service-token` in development; unset in production")]
        pub service_token: Option<Secret> = None;
    }
}

impl ServiceTokenConfig {
    /// The credential in force: `None` means internal routes are shut (production without a
    /// token). A weak token in production is a configuration error.
    pub fn resolve(&self, profile: Profile) -> Result<Option<Secret>, ConfigError> {
        match (profile, &self.service_token) {
            (Profile::Development, None) => Ok(Some(Secret::new(DEVELOPMENT_SERVICE_TOKEN))),
            (Profile::Development, Some(token)) => Ok(Some(token.clone())),
            (Profile::Production, None) => Ok(None),
            (Profile::Production, Some(token))
                if shop_config::secrets::is_published(token.expose())
                    || token.expose().len() < MIN_TOKEN_BYTES =>
            {
                Err(ConfigError::new(
                    "SERVICE_TOKEN",
                    format!(
                        "must be a random value of at least {MIN_TOKEN_BYTES} bytes in production"
                    ),
                ))
            }
            (Profile::Production, Some(token)) => Ok(Some(token.clone())),
        }
    }
}

/// Hoop admitting only requests that carry the service credential.
#[derive(Debug, Clone)]
pub struct RequireServiceToken {
    expected: Option<Secret>,
}

impl RequireServiceToken {
    /// `expected` from [`ServiceTokenConfig::resolve`]; `None` refuses every request.
    pub fn new(expected: Option<Secret>) -> Self {
        if expected.is_none() {
            tracing::error!(
                "SERVICE_TOKEN is not set: internal routes refuse every request with 503 until \
                 it is configured"
            );
        }
        Self { expected }
    }

    /// `router` behind this hoop, documented as needing the service credential.
    pub fn guard(self, router: Router) -> Router {
        crate::openapi::requires(router.hoop(self), crate::openapi::SERVICE_TOKEN)
    }

    fn verdict(&self, presented: Option<&[u8]>) -> Result<(), Problem> {
        let Some(expected) = &self.expected else {
            tracing::warn!("internal route refused: SERVICE_TOKEN is not configured");
            return Err(Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "internal-api-disabled",
                "Internal API disabled",
            )
            .detail("This service has no SERVICE_TOKEN configured; internal calls are refused."));
        };
        let Some(presented) = presented else {
            return Err(Problem::new(
                StatusCode::UNAUTHORIZED,
                "service-unauthenticated",
                "Service credential required",
            )
            .detail("Internal routes need the 'X-Service-Token' header."));
        };
        if matches(presented, expected) {
            Ok(())
        } else {
            Err(Problem::new(
                StatusCode::UNAUTHORIZED,
                "invalid-service-token",
                "Invalid service credential",
            ))
        }
    }
}

/// Whether `headers` carry the service credential `expected`. `None` (production without a
/// token) is carried by nobody. For a route open to everyone that believes more of a caller who
/// proves to be a service (the end client's address, say); internal routes use the hoop.
pub fn carries_service_token(headers: &HeaderMap, expected: Option<&Secret>) -> bool {
    match (headers.get(SERVICE_TOKEN_HEADER), expected) {
        (Some(presented), Some(expected)) => matches(presented.as_bytes(), expected),
        _ => false,
    }
}

fn matches(presented: &[u8], expected: &Secret) -> bool {
    // Constant time in the content; only the length can show through timing.
    bool::from(presented.ct_eq(expected.expose().as_bytes()))
}

#[async_trait]
impl Handler for RequireServiceToken {
    async fn handle(
        &self,
        req: &mut Request,
        _depot: &mut Depot,
        res: &mut Response,
        ctrl: &mut FlowCtrl,
    ) {
        let presented = req
            .headers()
            .get(SERVICE_TOKEN_HEADER)
            .map(|value| value.as_bytes());
        if let Err(problem) = self.verdict(presented) {
            problem.write_to(req, res);
            ctrl.skip_rest();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(token: Option<&str>) -> ServiceTokenConfig {
        ServiceTokenConfig {
            service_token: token.map(Secret::new),
        }
    }

    #[test]
    fn development_defaults_and_production_stays_shut_without_a_token() {
        let development = config(None).resolve(Profile::Development).unwrap();
        assert_eq!(development.unwrap().expose(), DEVELOPMENT_SERVICE_TOKEN);
        assert!(config(None).resolve(Profile::Production).unwrap().is_none());
    }

    #[test]
    fn production_refuses_weak_tokens() {
        for weak in [DEVELOPMENT_SERVICE_TOKEN, "short"] {
            let error = config(Some(weak)).resolve(Profile::Production).unwrap_err();
            assert_eq!(error.key, "SERVICE_TOKEN");
        }
        assert!(
            config(Some("a-long-random-service-token"))
                .resolve(Profile::Production)
                .is_ok()
        );
    }

    #[test]
    fn verdicts() {
        let hoop = RequireServiceToken::new(Some(Secret::new("right-token-right-token")));
        assert!(hoop.verdict(Some(b"right-token-right-token")).is_ok());
        assert_eq!(
            hoop.verdict(Some(b"wrong-token-wrong-token"))
                .unwrap_err()
                .status,
            401
        );
        assert_eq!(hoop.verdict(Some(b"")).unwrap_err().status, 401);
        assert_eq!(hoop.verdict(None).unwrap_err().status, 401);
        let shut = RequireServiceToken::new(None);
        assert_eq!(shut.verdict(Some(b"anything")).unwrap_err().status, 503);
    }

    #[test]
    fn carrying_the_token_needs_the_header_and_a_configured_token() {
        let expected = Secret::new("right-token-right-token");
        let mut headers = HeaderMap::new();
        assert!(!carries_service_token(&headers, Some(&expected)));
        headers.insert(
            SERVICE_TOKEN_HEADER,
            "wrong-token-wrong-token".parse().unwrap(),
        );
        assert!(!carries_service_token(&headers, Some(&expected)));
        headers.insert(
            SERVICE_TOKEN_HEADER,
            "right-token-right-token".parse().unwrap(),
        );
        assert!(carries_service_token(&headers, Some(&expected)));
        assert!(!carries_service_token(&headers, None));
    }
}
