use std::sync::Arc;
use std::time::Instant;

use salvo::oapi::ToSchema;
use salvo::prelude::*;
use serde::{Deserialize, Serialize};
use service_runtime::body;
use service_runtime::server::state;

use crate::error::UserError;
use crate::metrics::LoginOutcome;
use crate::state::AppState;

/// Credentials, as JSON or as the OAuth2 password form (`grant_type`, `scope` and `client_id`
/// are accepted and ignored).
#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: String,
    /// Seconds until the token expires.
    pub expires_in: i64,
}

/// Exchange a username and password for an access token.
///
/// Wrong username and wrong password get the same 401 in about the same time. Repeated failures
/// for one username or from one client address are refused with 429 and `Retry-After`.
#[endpoint(
    tags("users"),
    request_body(
        content = LoginRequest,
        content_type = "application/json",
        description = "Also accepted as application/x-www-form-urlencoded (OAuth2 password flow)."
    ),
    responses((status_code = 200, description = "Authenticated", body = TokenResponse))
)]
pub async fn login(req: &mut Request, depot: &mut Depot) -> Result<Json<TokenResponse>, UserError> {
    let request: LoginRequest = body::json_or_form(req).await?;
    let state = state::<Arc<AppState>>(depot);
    let user_key = format!("user:{}", request.username.to_lowercase());
    let client_key = format!("ip:{}", client_address(req));

    let now = Instant::now();
    let locked = [&user_key, &client_key]
        .into_iter()
        .filter_map(|key| state.throttle.retry_after(key, now))
        .max();
    if let Some(retry_after) = locked {
        state.metrics.login(LoginOutcome::Throttled);
        return Err(UserError::TooManyAttempts { retry_after });
    }

    let user = state.users.find_by_username(&request.username).await?;
    let hash = user.as_ref().map(|user| user.hashed_password.as_str());
    let verified = state.hasher.verify(&request.password, hash).await?;
    let user = match user {
        Some(user) if verified && user.is_active => user,
        _ => {
            let now = Instant::now();
            state.throttle.record_failure(&user_key, now);
            state.throttle.record_failure(&client_key, now);
            state.metrics.login(LoginOutcome::Failure);
            tracing::info!(username = %request.username, "login failed");
            return Err(UserError::InvalidCredentials);
        }
    };
    state.throttle.reset(&user_key);
    let access_token = state
        .tokens
        .issue(user.id, &user.username, user.role)
        .map_err(|_| UserError::InvalidCredentials)?;
    state.metrics.login(LoginOutcome::Success);
    tracing::info!(user_id = user.id, "login succeeded");
    Ok(Json(TokenResponse {
        access_token,
        token_type: "bearer".into(),
        expires_in: state.tokens.ttl_secs(),
    }))
}

/// The peer's IP address. Forwarded-for headers are not trusted: any client could set them.
fn client_address(req: &Request) -> String {
    req.remote_addr()
        .as_ipv4()
        .map(|addr| addr.ip().to_string())
        .or_else(|| {
            req.remote_addr()
                .as_ipv6()
                .map(|addr| addr.ip().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}
