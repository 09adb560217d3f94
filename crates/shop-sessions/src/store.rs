//! Sessions kept server-side, in the Redis every replica shares.
//!
//! The browser holds only a random id (32 bytes, hex); `<prefix>session:<id>` holds the User
//! Service's access token, for no longer than the token lives. Ending a session deletes the key
//! and then announces the id on `<prefix>session-ended`, which every replica follows
//! ([`SessionStore::follow_ended`]) to close that session's live streams at once. Redis keeps
//! no pub/sub message for a replica that is not listening at that moment, so open streams also
//! re-check their key now and then ([`SessionStore::exists`]).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use shop_redis::{Redis, RedisError};
use tokio_util::sync::CancellationToken;

/// Bytes of randomness in a session id: as hard to guess as the token it stands for.
const ID_BYTES: usize = 32;

/// Redis could not answer: the session is neither known to be valid nor known to be gone.
#[derive(Debug, thiserror::Error)]
#[error("the session store is unavailable: {0}")]
pub struct StoreUnavailable(#[from] RedisError);

/// What a session holds; never sent to the browser.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredSession {
    pub(crate) token: String,
}

#[derive(Debug, Clone)]
pub struct SessionStore {
    redis: Redis,
    prefix: String,
}

impl SessionStore {
    pub fn new(redis: Redis, prefix: &str) -> Self {
        Self {
            redis,
            prefix: prefix.to_owned(),
        }
    }

    /// The channel that announces ended sessions, by id.
    fn ended_channel(&self) -> String {
        format!("{}session-ended", self.prefix)
    }

    /// Hands the id of every session that ends, on any replica, to `on_end` until `stop`,
    /// re-subscribing after a loss. An announcement made meanwhile is gone: whoever acts on
    /// them re-checks with [`Self::exists`] now and then.
    pub async fn follow_ended(&self, stop: CancellationToken, on_end: impl FnMut(String) + Send) {
        self.redis.follow(&self.ended_channel(), stop, on_end).await;
    }

    fn key(&self, id: &str) -> String {
        format!("{}session:{id}", self.prefix)
    }

    /// Only what [`Self::create`] could have issued is looked up: anything else is unknown
    /// without a round trip, and no cookie can steer the key into another namespace.
    pub(crate) fn is_well_formed(id: &str) -> bool {
        id.len() == ID_BYTES * 2
            && id
                .bytes()
                .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'))
    }

    /// Starts a session for `token` under a fresh id, living `ttl`; returns the id.
    pub(crate) async fn create(
        &self,
        token: String,
        ttl: Duration,
    ) -> Result<String, StoreUnavailable> {
        let id = hex(&rand::random::<[u8; ID_BYTES]>());
        let value = serde_json::to_string(&StoredSession { token }).expect("a session serialises");
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        // NX: a colliding id (never expected with 256 random bits) must not take over a session.
        let created: Option<String> = self
            .redis
            .query(
                redis::cmd("SET")
                    .arg(self.key(&id))
                    .arg(value)
                    .arg("PX")
                    .arg(ttl_ms)
                    .arg("NX"),
            )
            .await?;
        match created {
            Some(_) => Ok(id),
            None => Err(StoreUnavailable(RedisError::Unavailable(
                "session id collision".into(),
            ))),
        }
    }

    /// The session under `id`; `None` when it ended, expired or never existed.
    pub(crate) async fn load(&self, id: &str) -> Result<Option<StoredSession>, StoreUnavailable> {
        if !Self::is_well_formed(id) {
            return Ok(None);
        }
        let value: Option<String> = self
            .redis
            .query(redis::cmd("GET").arg(self.key(id)))
            .await?;
        Ok(value.and_then(|value| match serde_json::from_str(&value) {
            Ok(session) => Some(session),
            Err(error) => {
                tracing::warn!(error = %error, "unreadable session dropped");
                None
            }
        }))
    }

    /// Whether the session under `id` still exists.
    pub async fn exists(&self, id: &str) -> Result<bool, StoreUnavailable> {
        let found: i64 = self
            .redis
            .query(redis::cmd("EXISTS").arg(self.key(id)))
            .await?;
        Ok(found > 0)
    }

    /// Deletes the session, then tells every replica it ended. The key goes first: a replica
    /// that re-checks after the announcement must find it gone.
    pub(crate) async fn end(&self, id: &str) -> Result<(), StoreUnavailable> {
        if !Self::is_well_formed(id) {
            return Ok(());
        }
        let _: i64 = self
            .redis
            .query(redis::cmd("DEL").arg(self.key(id)))
            .await?;
        let _: i64 = self
            .redis
            .query(redis::cmd("PUBLISH").arg(self.ended_channel()).arg(id))
            .await?;
        Ok(())
    }
}

/// Lower-case hex, as session ids, CSRF cookies and form tokens are written.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_issued_ids_are_well_formed() {
        assert!(SessionStore::is_well_formed(&"ab12".repeat(16)));
        assert!(!SessionStore::is_well_formed(&"AB12".repeat(16)));
        assert!(!SessionStore::is_well_formed(&"ab12".repeat(15)));
        assert!(!SessionStore::is_well_formed("x*"));
        assert!(!SessionStore::is_well_formed(
            "eyJhbGciOiJIUzI1NiJ9.e30.sig"
        ));
    }
}
