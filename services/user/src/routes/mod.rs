//! HTTP routes of the User Service.

mod login;
mod register;
mod validate_token;

use std::sync::Arc;

use salvo::Router;
use shop_http::server::{Provide, route};

use crate::state::AppState;

pub use login::{LoginRequest, TokenResponse};
pub use register::{RegisterRequest, UserResponse};
pub use validate_token::{ValidateTokenRequest, ValidateTokenResponse};

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .hoop(Provide(state))
        .push(route("/register").post(register::register))
        .push(route("/login").post(login::login))
        .push(route("/validate-token").post(validate_token::validate_token))
}
