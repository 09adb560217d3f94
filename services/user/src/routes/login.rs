use std::sync::Arc;

use salvo::prelude::*;
use shop_http::body;
use shop_http::server::state;

use crate::domain::Username;
use crate::error::UserError;
use crate::limiter::Limit;
use crate::metrics::LoginOutcome;
use crate::state::AppState;

pub use shop_contract::user::{LoginRequest, TokenResponse};

/// Exchange a username and password for an access token.
///
/// Wrong username and wrong password get the same 401 in about the same time. Attempts are
/// counted across replicas before the password is checked, on two keys: the username from this
/// client address (at most `LOGIN_MAX_FAILURES` in `LOGIN_FAILURE_WINDOW_SECS`) and the client
/// address whatever the username (at most `LOGIN_MAX_FAILURES_PER_CLIENT`); past either the
/// attempt is refused with 429 and `Retry-After`. Failures from one address never lock the
/// account for another, so nobody can lock an owner out. A success clears that username's
/// count from that address and takes back its own attempt on the address's.
///
/// The client address is the peer, or the address a trusted gateway (`TRUSTED_PROXIES`) put in
/// `X-Forwarded-For`; a service calling on a shopper's behalf (the storefront) names the
/// shopper in `X-Client-IP`, believed only beside a valid `X-Service-Token`. IPv6 clients are
/// counted by their /64. A username that breaks the registration rules is a 422. When hashing
/// is saturated the answer is 503 with `Retry-After`.
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
    // People type passwords into the username field: a value that cannot be a username is
    // refused here, never used as a key, and never logged.
    let username = Username::parse(&request.username).map_err(|error| {
        state.metrics.login(LoginOutcome::Failure);
        UserError::Validation(vec![error])
    })?;
    let client = state.clients.request_client_key(req);
    // The pair first: it is the key a success clears.
    let limits = [
        Limit::new(
            format!("user:{}:{client}", username.as_str().to_lowercase()),
            state.limits.login_per_user_and_client,
        ),
        Limit::new(format!("ip:{client}"), state.limits.login_per_client),
    ];
    // Counted before bcrypt runs: concurrent guesses cannot all pass a limit they have not yet
    // been counted against.
    let attempt = match state.login_attempts.begin(&limits).await {
        Ok(attempt) => attempt,
        Err(retry_after) => {
            state.metrics.login(LoginOutcome::Throttled);
            return Err(UserError::TooManyAttempts { retry_after });
        }
    };

    let user = state.users.find_by_username(username.as_str()).await?;
    let hash = user.as_ref().map(|user| user.hashed_password.as_str());
    let verified = state.hasher.verify(&request.password, hash).await?;
    let user = match user {
        Some(user) if verified && user.is_active => user,
        other => {
            state.metrics.login(LoginOutcome::Failure);
            // The account id when there is one; the typed name never reaches the logs.
            tracing::info!(user_id = other.map(|user| user.id), "login failed");
            return Err(UserError::InvalidCredentials);
        }
    };
    // The username proved its password from here: that count starts again; the client keeps
    // its other attempts (on other names).
    state.login_attempts.succeeded(attempt, 1).await;
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
