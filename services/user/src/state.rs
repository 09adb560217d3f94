//! What handlers share.

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
    pub metrics: UserMetrics,
}
