//! The User Service client and the hoop that admits callers (feature `auth-client`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use salvo::http::StatusCode;
use salvo::http::header::{AUTHORIZATION, HeaderValue, WWW_AUTHENTICATE};
use salvo::prelude::*;
use shop_contract::user::{ValidateTokenRequest, ValidateTokenResponse};

use super::Caller;
use shop_http::http_client::HttpClient;
use shop_http::problem::Problem;

shop_config::settings_section! {
    /// User Service client (token validation)
    pub struct AuthConfig {
        /// Base URL of the User Service.
        pub user_service_url: String = "http://127.0.0.1:8001".into();
        /// How long a positive answer is reused, in seconds, never past the token's expiry (0
        /// turns the cache off).
        pub auth_cache_ttl_secs: u64 = 30;
        /// Tokens remembered at most.
        pub auth_cache_capacity: usize = 10_000;
        /// The longest a validation call may take before the request gets a 503 (milliseconds).
        #[range(1..)]
        pub auth_timeout_ms: u64 = 1_500;
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no bearer token")]
    MissingToken,
    #[error("{0}")]
    InvalidToken(String),
    #[error("admin role required")]
    Forbidden,
    #[error("user service unavailable")]
    Unavailable,
}

impl AuthError {
    pub fn into_problem(self) -> Problem {
        match self {
            Self::MissingToken => Problem::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "Authentication required",
            )
            .detail("Send an access token as 'Authorization: Bearer <token>'."),
            Self::InvalidToken(reason) => Problem::new(
                StatusCode::UNAUTHORIZED,
                "invalid-token",
                "Invalid access token",
            )
            .detail(reason),
            Self::Forbidden => Problem::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden")
                .detail("This operation needs the admin role."),
            Self::Unavailable => Problem::unavailable("Authentication"),
        }
    }
}

struct CacheEntry {
    caller: Caller,
    until: Instant,
}

/// Client of `POST /validate-token` with a bounded cache of positive answers.
pub struct AuthClient {
    http: HttpClient,
    validate_url: String,
    ttl: Duration,
    capacity: usize,
    cache: Mutex<HashMap<String, CacheEntry>>,
}

impl std::fmt::Debug for AuthClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthClient")
            .field("validate_url", &self.validate_url)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl AuthClient {
    pub fn new(config: &AuthConfig) -> anyhow::Result<Arc<Self>> {
        Ok(Arc::new(Self {
            http: HttpClient::new(
                "user-service",
                Duration::from_millis(config.auth_timeout_ms),
            )?,
            validate_url: format!(
                "{}/validate-token",
                config.user_service_url.trim_end_matches('/')
            ),
            ttl: Duration::from_secs(config.auth_cache_ttl_secs),
            capacity: config.auth_cache_capacity,
            cache: Mutex::new(HashMap::new()),
        }))
    }

    /// Who `token` belongs to, from the cache or the User Service.
    pub async fn validate(&self, token: &str) -> Result<Caller, AuthError> {
        if let Some(caller) = self.cached(token) {
            return Ok(caller);
        }
        let request = self
            .http
            .inner()
            .post(&self.validate_url)
            .json(&ValidateTokenRequest {
                token: token.to_owned(),
            })
            .build()
            .map_err(|_| AuthError::Unavailable)?;
        let response = self.http.send(request).await.map_err(|error| {
            tracing::warn!(error = %error, "token validation call failed");
            AuthError::Unavailable
        })?;
        if !response.status().is_success() {
            tracing::warn!(
                status = response.status().as_u16(),
                "token validation refused"
            );
            return Err(AuthError::Unavailable);
        }
        let verdict: ValidateTokenResponse =
            response.json().await.map_err(|_| AuthError::Unavailable)?;
        match verdict {
            ValidateTokenResponse {
                valid: true,
                user_id: Some(user_id),
                username: Some(username),
                role: Some(role),
                expires_at,
                ..
            } => {
                let caller = Caller {
                    user_id,
                    username,
                    role,
                };
                self.remember(token, &caller, expires_at);
                Ok(caller)
            }
            verdict => Err(AuthError::InvalidToken(verdict.message)),
        }
    }

    fn cached(&self, token: &str) -> Option<Caller> {
        let cache = self.cache.lock().expect("auth cache poisoned");
        let entry = cache.get(token)?;
        (entry.until > Instant::now()).then(|| entry.caller.clone())
    }

    fn remember(&self, token: &str, caller: &Caller, expires_at: Option<i64>) {
        if self.ttl.is_zero() || self.capacity == 0 {
            return;
        }
        let now = Instant::now();
        let mut until = now + self.ttl;
        if let Some(expires_at) = expires_at {
            let left = expires_at.saturating_sub(chrono::Utc::now().timestamp());
            until = until.min(now + Duration::from_secs(u64::try_from(left).unwrap_or(0)));
        }
        let mut cache = self.cache.lock().expect("auth cache poisoned");
        if cache.len() >= self.capacity {
            cache.retain(|_, entry| entry.until > now);
            if cache.len() >= self.capacity {
                cache.clear();
            }
        }
        cache.insert(
            token.to_owned(),
            CacheEntry {
                caller: caller.clone(),
                until,
            },
        );
    }
}

/// The bearer token of a request, if it sent one.
pub fn bearer_token(req: &Request) -> Result<&str, AuthError> {
    let header = req
        .headers()
        .get(AUTHORIZATION)
        .ok_or(AuthError::MissingToken)?
        .to_str()
        .map_err(|_| AuthError::InvalidToken("malformed Authorization header".into()))?;
    let (scheme, token) = header
        .split_once(' ')
        .ok_or_else(|| AuthError::InvalidToken("expected 'Bearer <token>'".into()))?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(AuthError::InvalidToken("expected 'Bearer <token>'".into()));
    }
    Ok(token)
}

/// Hoop: requires a valid bearer token (and, with `admin_only`, the admin role) and puts the
/// [`Caller`] in the depot.
#[derive(Debug, Clone)]
pub struct Authenticate {
    pub client: Arc<AuthClient>,
    pub admin_only: bool,
}

impl Authenticate {
    pub fn user(client: Arc<AuthClient>) -> Self {
        Self {
            client,
            admin_only: false,
        }
    }

    pub fn admin(client: Arc<AuthClient>) -> Self {
        Self {
            client,
            admin_only: true,
        }
    }

    /// `router` behind this hoop, documented as needing a bearer token: the check and its
    /// OpenAPI security requirement are declared in one place.
    pub fn guard(self, router: Router) -> Router {
        shop_http::openapi::requires(router.hoop(self), shop_http::openapi::BEARER)
    }
}

#[async_trait]
impl Handler for Authenticate {
    async fn handle(
        &self,
        req: &mut Request,
        depot: &mut Depot,
        res: &mut Response,
        ctrl: &mut FlowCtrl,
    ) {
        let outcome = match bearer_token(req) {
            Ok(token) => self.client.validate(token).await,
            Err(error) => Err(error),
        };
        let outcome = outcome.and_then(|caller| {
            if self.admin_only && !caller.is_admin() {
                Err(AuthError::Forbidden)
            } else {
                Ok(caller)
            }
        });
        match outcome {
            Ok(caller) => {
                depot.insert_typed(caller);
            }
            Err(error) => {
                let unauthenticated =
                    matches!(error, AuthError::MissingToken | AuthError::InvalidToken(_));
                error.into_problem().write_to(req, res);
                if unauthenticated {
                    res.headers_mut()
                        .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                }
                ctrl.skip_rest();
            }
        }
    }
}
