//! bcrypt hashing off the async workers.
//!
//! A hash costs tens to hundreds of milliseconds of CPU. Running it on a Tokio worker would
//! stall every other request on that worker, so each hash runs on the blocking pool, and a
//! semaphore caps how many run at once: a login storm queues here (asynchronously) instead of
//! oversubscribing the cores.

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::domain::Password;

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("password hashing failed")]
    Bcrypt(#[from] bcrypt::BcryptError),
    #[error("password hashing task failed")]
    Task(#[from] tokio::task::JoinError),
}

#[derive(Debug, Clone)]
pub struct PasswordHasher {
    cost: u32,
    permits: Arc<Semaphore>,
    /// A hash of a random password with the configured cost: checking an unknown user's
    /// password against it costs as much as a real check, so response time does not reveal
    /// whether a username exists.
    dummy_hash: Arc<str>,
}

impl PasswordHasher {
    pub async fn new(cost: u32, max_concurrency: usize) -> Result<Self, HashError> {
        let filler = uuid::Uuid::new_v4().to_string();
        let dummy_hash = tokio::task::spawn_blocking(move || bcrypt::hash(filler, cost)).await??;
        Ok(Self {
            cost,
            permits: Arc::new(Semaphore::new(max_concurrency)),
            dummy_hash: dummy_hash.into(),
        })
    }

    pub async fn hash(&self, password: &Password) -> Result<String, HashError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("semaphore never closed");
        let password = password.expose().to_owned();
        let cost = self.cost;
        Ok(tokio::task::spawn_blocking(move || bcrypt::hash(password, cost)).await??)
    }

    /// Checks `password` against `hash`; with no hash (unknown user) checks against the dummy
    /// hash and returns false, taking the same time.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool, HashError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("semaphore never closed");
        let password = password.to_owned();
        let known = hash.is_some();
        let hash = hash.map_or_else(|| self.dummy_hash.to_string(), str::to_owned);
        let matches =
            tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash)).await??;
        Ok(known && matches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_then_verify() {
        let hasher = PasswordHasher::new(4, 2).await.unwrap();
        let password = Password::parse("correct horse").unwrap();
        let hash = hasher.hash(&password).await.unwrap();
        assert!(hash.starts_with("$2b$04$"));
        assert!(hasher.verify("correct horse", Some(&hash)).await.unwrap());
        assert!(!hasher.verify("wrong horse!", Some(&hash)).await.unwrap());
    }

    #[tokio::test]
    async fn unknown_user_never_verifies_even_with_the_dummy_password() {
        let hasher = PasswordHasher::new(4, 1).await.unwrap();
        assert!(!hasher.verify("anything-at-all", None).await.unwrap());
    }
}
