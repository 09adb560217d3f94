use std::sync::Arc;

use salvo::prelude::*;
use shop_http::body;
use shop_http::server::state;

use crate::error::UserError;
use crate::state::AppState;
use crate::tokens::TokenError;

pub use shop_contract::user::{ValidateTokenRequest, ValidateTokenResponse};

/// Check an access token (for other services).
///
/// A token is valid when its HS256 signature is right, it has not expired, and its user still
/// exists and is active; the role returned is the user's current one.
#[endpoint(
    tags("users"),
    request_body = ValidateTokenRequest,
    responses((status_code = 200, description = "Verdict", body = ValidateTokenResponse))
)]
pub async fn validate_token(
    req: &mut Request,
    depot: &mut Depot,
) -> Result<Json<ValidateTokenResponse>, UserError> {
    let request: ValidateTokenRequest = body::json(req).await?;
    let state = state::<Arc<AppState>>(depot);
    let claims = match state.tokens.verify(&request.token) {
        Ok(claims) => claims,
        Err(error) => {
            state.metrics.validation(match error {
                TokenError::Expired => "expired",
                TokenError::Invalid => "invalid",
            });
            return Ok(Json(ValidateTokenResponse::invalid(error.to_string())));
        }
    };
    let response = match state.users.status(claims.uid).await? {
        Some(user) if user.is_active => ValidateTokenResponse {
            valid: true,
            username: Some(user.username),
            user_id: Some(claims.uid),
            role: Some(user.role),
            expires_at: Some(claims.exp),
            message: "token is valid".into(),
        },
        Some(_) => ValidateTokenResponse::invalid("user is inactive"),
        None => ValidateTokenResponse::invalid("user no longer exists"),
    };
    state
        .metrics
        .validation(if response.valid { "valid" } else { "invalid" });
    Ok(Json(response))
}
