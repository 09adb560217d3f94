//! What handlers share.

use service_runtime::client_addr::TrustedProxies;

use crate::metrics::UserMetrics;
use crate::password::PasswordHasher;
use crate::repository::UsersRepository;
use crate::throttle::LoginThrottle;
use crate::tokens::TokenIssuer;

#[derive(Debug)]
pub struct AppState {
    pub users: UsersRepository,
    pub hasher: PasswordHasher,
    pub tokens: TokenIssuer,
    pub throttle: LoginThrottle,
    /// Gateways whose `X-Forwarded-For` names the client the throttle counts against.
    pub trusted_proxies: TrustedProxies,
    pub metrics: UserMetrics,
}
