//! What handlers share.

use service_runtime::client_addr::TrustedProxies;

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
    /// Login attempts, per username and per client address.
    pub login_attempts: AttemptLimiter,
    /// Registrations, per client address.
    pub registrations: AttemptLimiter,
    /// Gateways whose `X-Forwarded-For` names the client the throttle counts against.
    pub trusted_proxies: TrustedProxies,
    pub metrics: UserMetrics,
}
