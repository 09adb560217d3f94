use std::sync::Arc;

use salvo::oapi::ToSchema;
use salvo::prelude::*;
use serde::{Deserialize, Serialize};
use shop_http::body;
use shop_http::server::state;

use crate::domain::Role;
use crate::error::UserError;
use crate::state::AppState;
use crate::tokens::TokenError;

#[derive(Debug, Deserialize, ToSchema)]
pub struct ValidateTokenRequest {
    pub token: String,
}

/// The verdict on a token. Invalid tokens are a normal answer (200 with `valid: false`), not an
/// error: the caller asked a question and got a reply.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ValidateTokenResponse {
    pub valid: bool,
    pub username: Option<String>,
    pub user_id: Option<i64>,
    pub role: Option<Role>,
    /// Unix time the token expires at.
    pub expires_at: Option<i64>,
    pub message: String,
}

impl ValidateTokenResponse {
    fn invalid(message: impl Into<String>) -> Self {
        Self {
            valid: false,
            username: None,
            user_id: None,
            role: None,
            expires_at: None,
            message: message.into(),
        }
    }
}

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
