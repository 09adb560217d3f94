//! Authentication for every service but the User Service, which alone holds the JWT key.
//!
//! [`AuthClient`] asks the User Service's `POST /validate-token` and keeps positive answers for
//! a short, bounded time (never past the token's own expiry), so a burst of writes does not pay
//! an extra network hop per request. Negative answers are not cached. The User Service being
//! unreachable is a 503, never a 401: the client's token may be fine.
//!
//! [`Authenticate`] is the hoop that turns an `Authorization: Bearer …` header into a
//! [`Caller`] in the depot, or answers 401/403/503 itself.
#![warn(missing_debug_implementations)]

mod client;

use salvo::prelude::*;
use serde::{Deserialize, Serialize};

pub use client::{AuthClient, AuthConfig, AuthError, Authenticate, bearer_token};

pub use shop_contract::user::Role;

/// The authenticated user a request acts for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caller {
    pub user_id: i64,
    pub username: String,
    pub role: Role,
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

/// The caller an [`Authenticate`] hoop admitted.
pub fn caller(depot: &Depot) -> &Caller {
    shop_http::route::state::<Caller>(depot)
}
