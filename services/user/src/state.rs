//! What handlers share.

use shop_http::client_addr::ClientAddressing;

use crate::limiter::AttemptLimiter;
use crate::metrics::UserMetrics;
use crate::password::PasswordHasher;
use crate::repository::UsersRepository;
use crate::tokens::TokenIssuer;

#[derive(Debug)]
pub struct AppState {
    pub users: UsersRepository,
    pub hasher: PasswordHasher,
    pub tokens: TokenIssuer,
    /// Login attempts, per username from one client and per client address.
    pub login_attempts: AttemptLimiter,
    /// Registrations, per client address.
    pub registrations: AttemptLimiter,
    /// How many attempts each of those keys allows in its window.
    pub limits: Limits,
    /// Which client an attempt counts against: the peer, the address a trusted gateway
    /// forwarded, or the shopper a service names beside its credential.
    pub clients: ClientAddressing,
    pub metrics: UserMetrics,
}

/// The settings `LOGIN_MAX_FAILURES`, `LOGIN_MAX_FAILURES_PER_CLIENT` and
/// `REGISTER_MAX_PER_CLIENT`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub login_per_user_and_client: u32,
    pub login_per_client: u32,
    pub register_per_client: u32,
}
