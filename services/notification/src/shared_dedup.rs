//! The dedup record shared by every replica, in Redis, so that a copy of an event that reaches
//! another replica (a redelivery after a crash, a republished outbox row) is not notified again.
//!
//! Per (event, channel) key, a replica first claims the key with `SET NX` and a short lease,
//! sends, then marks it delivered for the dedup window. Another replica that meets the key:
//! - marked delivered: drops its copy (acknowledged as a duplicate);
//! - claimed, not yet delivered: the first replica is sending, or died while sending. It must
//!   not drop its copy (that could lose the notification), so it treats it as a transient
//!   failure: the message goes to the delay queue and comes back after the lease has expired.
//!
//! Redis down or slow is not a reason to stop notifying: the replica then goes on with its own
//! memory alone ([`crate::dedup`]), the behaviour of a single replica.

use std::time::Duration;

use redis::Script;
use shop_config::{ConfigError, Deferred};
use shop_redis::{Redis, RedisConfig, RedisError};

shop_config::settings_section! {
    /// Notification Service: dedup record shared by replicas
    pub(crate) struct SharedDedupSection {
        /// `memory` (each replica remembers alone) or `redis` (replicas share the record; the
        /// `REDIS_*` settings then apply).
        notify_dedup_store: String = "memory".into();
        /// How long a replica may take to send before another may try (milliseconds).
        #[range(1..)]
        notify_dedup_lease_ms: u64 = 60_000;
        /// Prefix of the shared record's Redis keys.
        notify_dedup_key_prefix: String = "notify:dedup:".into();
    }
}

/// The settings of the shared record, when `NOTIFY_DEDUP_STORE=redis`.
#[derive(Debug, Clone)]
pub struct SharedDedupConfig {
    pub redis: RedisConfig,
    pub lease: Duration,
    pub key_prefix: String,
}

impl SharedDedupConfig {
    /// `None` for the in-memory record. The Redis section is read only when the record is in
    /// Redis.
    pub(crate) fn from_sections(
        section: SharedDedupSection,
        redis: Deferred<RedisConfig>,
    ) -> Result<Option<Self>, ConfigError> {
        match section.notify_dedup_store.trim() {
            "memory" => Ok(None),
            "redis" => {
                let redis = redis.take()?;
                redis.validate()?;
                Ok(Some(Self {
                    redis,
                    lease: Duration::from_millis(section.notify_dedup_lease_ms),
                    key_prefix: section.notify_dedup_key_prefix,
                }))
            }
            other => Err(ConfigError::new(
                "NOTIFY_DEDUP_STORE",
                format!("{other:?}: choose memory or redis"),
            )),
        }
    }
}

/// What the shared record says about a key this replica wants to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// This replica holds the lease: send.
    Mine,
    /// Already delivered by some replica: drop this copy.
    Delivered,
    /// Another replica holds the lease: try again later.
    Elsewhere,
    /// No answer from Redis: decide with this replica's memory alone.
    Unavailable,
}

const DELIVERED: &str = "delivered";

#[derive(Debug, Clone)]
pub struct SharedDedup {
    redis: Redis,
    prefix: String,
    /// Marks this replica's leases, so that it only ever releases its own.
    owner: String,
    lease: Duration,
    window: Duration,
}

impl SharedDedup {
    pub fn new(redis: Redis, prefix: &str, lease: Duration, window: Duration) -> Self {
        Self {
            redis,
            prefix: prefix.to_owned(),
            owner: format!("sending:{}", uuid::Uuid::new_v4().simple()),
            lease,
            window,
        }
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    pub async fn claim(&self, key: &str) -> Claim {
        let key = self.key(key);
        let set = redis::cmd("SET")
            .arg(&key)
            .arg(&self.owner)
            .arg("NX")
            .arg("PX")
            .arg(millis(self.lease))
            .to_owned();
        match self.redis.query::<Option<String>>(&set).await {
            Ok(Some(_)) => Claim::Mine,
            Ok(None) => match self
                .redis
                .query::<Option<String>>(redis::cmd("GET").arg(&key))
                .await
            {
                Ok(Some(value)) if value == DELIVERED => Claim::Delivered,
                Ok(Some(_)) => Claim::Elsewhere,
                // The lease expired between the two commands: let the next attempt claim it.
                Ok(None) => Claim::Elsewhere,
                Err(error) => unavailable(&error),
            },
            Err(error) => unavailable(&error),
        }
    }

    /// Records `key` as delivered for the dedup window.
    pub async fn delivered(&self, key: &str) {
        let set = redis::cmd("SET")
            .arg(self.key(key))
            .arg(DELIVERED)
            .arg("PX")
            .arg(millis(self.window))
            .to_owned();
        if let Err(error) = self.redis.query::<()>(&set).await {
            tracing::warn!(error = %error, "could not record a delivered notification in Redis");
        }
    }

    /// Gives up this replica's lease on `key` after a failed send, so another copy may try.
    pub async fn release(&self, key: &str) {
        // Delete only if the lease is still ours: it may have expired and been taken since.
        let script = Script::new(
            "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0",
        );
        let mut invocation = script.prepare_invoke();
        invocation.key(self.key(key)).arg(&self.owner);
        if let Err(error) = self.redis.invoke::<i64>(&invocation).await {
            tracing::debug!(error = %error, "could not release a notification lease; it expires");
        }
    }
}

fn unavailable(error: &RedisError) -> Claim {
    tracing::debug!(error = %error, "shared dedup unavailable; using this replica's memory");
    Claim::Unavailable
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}
