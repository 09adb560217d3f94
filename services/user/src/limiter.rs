//! Attempt limits shared by every replica: `POST /login` (per username from one client, and per
//! client) and `POST /register` (per client).
//!
//! An attempt is counted *before* the expensive work (bcrypt) starts, atomically across all its
//! keys, in one Lua script on Redis: with `max` attempts allowed, N concurrent guesses let
//! exactly `max` through, on whichever replicas they land. Each key has its own `max` (a
//! username from one client allows few, the client as a whole many). The window slides: each
//! key is a sorted set of attempt times (Redis's clock, so replicas' clocks do not matter) and
//! an attempt is refused while one of its keys holds `max` times younger than the window. A
//! successful login forgets the attempts of that username from that client and its own attempt
//! on the client key; failures stay counted.
//!
//! When Redis is down or slow (the runtime's breaker opens after a few failures, so this costs
//! nothing per request), each replica falls back to its own in-memory window, [`LoginThrottle`].
//! That is a deliberate choice: failing closed would lock every user out of the shop for as
//! long as a cache is down, and failing open would drop the guard entirely. With the fallback a
//! guesser gets at most `max × replicas` attempts per window during the outage, and logins keep
//! working. Every attempt Redis allows is also recorded in that window, so a Redis that fails
//! mid-burst (a timeout under load, a breaker opening) cannot hand a guesser a fresh local
//! allowance on top of what the shared limit already let through. Attempts counted locally
//! are not copied to Redis when it comes back.

use std::time::{Duration, Instant};

use shop_redis::Redis;

use crate::throttle::LoginThrottle;

/// Counts the attempt on every key, or says how long the busiest key must wait.
/// KEYS: the keys. ARGV: window (ms), this attempt's unique member, then each key's max
/// attempts in the order of KEYS.
const BEGIN: &str = r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local window = tonumber(ARGV[1])
local wait = 0
for index, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  if redis.call('ZCARD', key) >= tonumber(ARGV[2 + index]) then
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    wait = math.max(wait, tonumber(oldest[2]) + window - now)
  end
end
if wait > 0 then return wait end
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, ARGV[2])
  redis.call('PEXPIRE', key, window)
end
return 0
";

/// Forgets a successful attempt. KEYS: the keys; ARGV: the member, how many of the first keys
/// to clear entirely.
const SUCCEED: &str = r"
local clear = tonumber(ARGV[2])
for index, key in ipairs(KEYS) do
  if index <= clear then
    redis.call('DEL', key)
  else
    redis.call('ZREM', key, ARGV[1])
  end
end
return 0
";

/// A key an attempt is counted on, and how many attempts it allows in the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit {
    pub key: String,
    pub max: u32,
}

impl Limit {
    pub fn new(key: String, max: u32) -> Self {
        Self { key, max }
    }
}

/// A counted attempt, to be reported as a success or simply dropped (a failure stays counted).
#[derive(Debug)]
pub struct Attempt {
    keys: Vec<String>,
    member: String,
    at: Instant,
    /// Counted in Redis (else in this replica's memory).
    shared: bool,
}

#[derive(Debug)]
pub struct AttemptLimiter {
    begin_script: redis::Script,
    succeed_script: redis::Script,
    window: Duration,
    key_prefix: String,
    local: LoginThrottle,
    redis: Option<Redis>,
}

impl AttemptLimiter {
    /// `key_prefix` separates this limiter's keys (and a test's) from everything else in Redis.
    pub fn new(window: Duration, key_prefix: String, redis: Option<Redis>) -> Self {
        Self {
            begin_script: redis::Script::new(BEGIN),
            succeed_script: redis::Script::new(SUCCEED),
            window,
            key_prefix,
            local: LoginThrottle::new(window),
            redis,
        }
    }

    /// Counts an attempt on every key in `limits`, or refuses it with how long to wait.
    pub async fn begin(&self, limits: &[Limit]) -> Result<Attempt, Duration> {
        let keys: Vec<String> = limits
            .iter()
            .map(|limit| format!("{}{}", self.key_prefix, limit.key))
            .collect();
        let member = uuid::Uuid::new_v4().simple().to_string();
        if let Some(redis) = &self.redis {
            let mut invocation = self.begin_script.prepare_invoke();
            for key in &keys {
                invocation.key(key);
            }
            invocation
                .arg(u64::try_from(self.window.as_millis()).unwrap_or(u64::MAX))
                .arg(&member);
            for limit in limits {
                invocation.arg(limit.max);
            }
            match redis.invoke::<u64>(&invocation).await {
                Ok(0) => {
                    let at = Instant::now();
                    self.local.record(&local_limits(&keys, limits), at);
                    return Ok(Attempt {
                        keys,
                        member,
                        at,
                        shared: true,
                    });
                }
                Ok(wait_ms) => return Err(Duration::from_millis(wait_ms)),
                Err(error) => {
                    tracing::warn!(%error, "shared attempt limit unavailable; counting locally");
                }
            }
        }
        let at = Instant::now();
        self.local.try_begin(&local_limits(&keys, limits), at)?;
        Ok(Attempt {
            keys,
            member,
            at,
            shared: false,
        })
    }

    /// Forgets a successful attempt: the first `clear` keys are cleared entirely (the username
    /// that just proved its password, from that client), the others lose only this attempt
    /// (the client address).
    pub async fn succeeded(&self, attempt: Attempt, clear: usize) {
        if attempt.shared
            && let Some(redis) = &self.redis
        {
            let mut invocation = self.succeed_script.prepare_invoke();
            for key in &attempt.keys {
                invocation.key(key);
            }
            invocation.arg(&attempt.member).arg(clear);
            if let Err(error) = redis.invoke::<u64>(&invocation).await {
                // The attempt stays counted until the window passes: harmless.
                tracing::warn!(%error, "could not forget a successful attempt");
            }
        }
        // Shared attempts are recorded locally too (see `begin`): forget them here as well.
        for (index, key) in attempt.keys.iter().enumerate() {
            if index < clear {
                self.local.reset(key);
            } else {
                self.local.forget(key, attempt.at);
            }
        }
    }
}

/// Each key beside its limit, as the in-memory window takes them.
fn local_limits<'a>(keys: &'a [String], limits: &[Limit]) -> Vec<(&'a str, u32)> {
    keys.iter()
        .zip(limits)
        .map(|(key, limit)| (key.as_str(), limit.max))
        .collect()
}
