//! Cache-aside for `GET /products/{id}` in Redis, key `product:{id}`, that never serves a
//! value older than a write that has returned, nor a value of another database.
//!
//! # The race, and how it is closed
//! Plain cache-aside has a hole: a reader misses, reads version 1 from PostgreSQL, stalls; a
//! writer commits version 2 and deletes the key; the reader wakes and writes version 1 back,
//! where it stays for the whole TTL. Deleting later, or twice, only narrows the window.
//!
//! Here every row carries a `version` that grows with each change, and every cache value starts
//! with the version it holds: `"<version>|<product JSON>"`. A writer, after its commit, does not
//! delete the key but leaves a *tombstone* `"<version>|"` (the version its write produced). A
//! reader fills the cache through a Lua script that, atomically in Redis, refuses any version
//! older than the tombstone or not newer than the entry already there. So the stalled reader's
//! version 1 is refused once the writer's tombstone for version 2 is in place, and if the
//! reader got there first, the tombstone overwrites it. Tombstones are monotonic too, so two
//! writers finishing out of order cannot lower the bar. A deletion leaves a tombstone at
//! [`DELETED`], above every real version. Tombstones live at least [`MIN_TOMBSTONE_TTL`], far
//! longer than a reader can stall between its read and its fill (both are bounded by the
//! database and Redis timeouts).
//!
//! # A writer that cannot reach Redis
//! Tombstones protect readers only if they land. A writer whose Redis is down, stalled or cut
//! off (while the other replicas still reach it) cannot leave one, and the others would go on
//! serving the old value for the whole TTL: a chaos run caught exactly that. So every value also
//! carries a *stamp*, Redis's own clock read by the reader before its database read:
//! `"<version>|<stamp ms>|<product JSON>"`. A value is served only while its stamp is younger
//! than the freshness lease A (`PRODUCT_CACHE_FRESH_MS`); an older one is read again from
//! PostgreSQL and stored again with a new stamp. A value's database read began after its stamp,
//! so a value read before a commit has a stamp before the commit and is served no later than A
//! after it, however late its fill reached Redis. A writer whose tombstone did not land waits A
//! (and the local-copy window) before it returns ([`ProductCache::fresh`]); one whose tombstone
//! landed does not. Both durations are measured, never compared across machines' clocks.
//!
//! # Another database
//! Versions start again at 1 in a new database, so a value also names the database it was read
//! from, its *incarnation* ([`super::incarnation`]), in front of everything else:
//! `"<incarnation>|<version>|<stamp ms>|<product JSON>"`, tombstones `"<incarnation>|<version>|"`.
//! A value of another incarnation is a miss on read, and the fill and tombstone scripts treat it
//! as absent (they overwrite it): the entries a dropped or restored database left in Redis are
//! never served, nor can they refuse the new database's fills as "newer".
//!
//! # Redis down
//! Every call goes through the runtime's breaker, so reads fall back to PostgreSQL at no cost.
//! A tombstone Redis did not take is kept in `pending` and written before this process uses the
//! cache again; until then that product is read from PostgreSQL. (`pending` holds at most one
//! entry per product written during the outage.)

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use bytes::Bytes;
use redis::{self, Script};
use shop_redis::{Redis, RedisError};
use tokio::sync::Notify;

use super::announce::{Announce, Told};
use crate::metrics::ProductMetrics;

/// The version a deletion's tombstone carries: above every real version, and exact in Lua's
/// doubles (2^53).
pub const DELETED: i64 = 1 << 53;
/// The shortest life of a tombstone, whatever the cache TTL.
pub const MIN_TOMBSTONE_TTL: Duration = Duration::from_secs(60);

/// Read: KEYS[1] key, KEYS[2] its holders (see [`super::announce`]); ARGV[1] this replica, or
/// empty when it keeps no local copy, ARGV[2] how long a holder counts, ARGV[3] the holder
/// set's life (both milliseconds). Records the replica as a holder at Redis's clock (and
/// forgets holders too old to count), and returns {value or nil, that clock in milliseconds}.
static READ: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local value = redis.call('GET', KEYS[1])
        local now = redis.call('TIME')
        local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
        if ARGV[1] ~= '' then
          redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ms - tonumber(ARGV[2]))
          redis.call('ZADD', KEYS[2], ms, ARGV[1])
          redis.call('PEXPIRE', KEYS[2], ARGV[3])
        end
        return {value, ms}
        ",
    )
});

/// Fill: KEYS[1] key, ARGV[1] version read, ARGV[2] product JSON, ARGV[3] TTL in seconds,
/// ARGV[4] the stamp (Redis's clock before the database read), ARGV[5] the incarnation. The same
/// version is stored again only over a tombstone or with a newer stamp (a value read again once
/// it was no longer fresh). A value of another incarnation counts as none.
static FILL: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local ours = ARGV[5] .. '|'
        local current = redis.call('GET', KEYS[1])
        if current and string.sub(current, 1, #ours) == ours then
          local rest = string.sub(current, #ours + 1)
          local bar = string.find(rest, '|', 1, true)
          local version = bar and tonumber(string.sub(rest, 1, bar - 1))
          if version then
            local incoming = tonumber(ARGV[1])
            local tombstone = bar == #rest
            if incoming < version then
              return 0
            end
            if incoming == version and not tombstone then
              local second = string.find(rest, '|', bar + 1, true)
              local stamp = second and tonumber(string.sub(rest, bar + 1, second - 1))
              if stamp and stamp >= tonumber(ARGV[4]) then
                return 0
              end
            end
          end
        end
        local value = ours .. ARGV[1] .. '|' .. ARGV[4] .. '|' .. ARGV[2]
        redis.call('SET', KEYS[1], value, 'EX', ARGV[3])
        return 1
        ",
    )
});

/// Tombstone: KEYS[1] key, KEYS[2] its holders, KEYS[3] (optional) the listing pages'
/// generation, incremented in the same call so that a write costs one round trip to Redis (see
/// [`super::pages`]; all keys live on the one Redis the service uses); ARGV[1] version the
/// write produced, ARGV[2] TTL
/// in seconds, ARGV[3] the incarnation, ARGV[4] how long a holder counts (milliseconds; 0: tell
/// nobody), ARGV[5] the writer, ARGV[6] the holders' channel prefix, ARGV[7] the announcement.
/// A value of this incarnation at that version or newer is left alone: it can only have been
/// read after the write. Either way every other recent holder is told, since its local copy
/// may be older. Returns {holders reached, holders no subscriber heard}.
static TOMBSTONE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local ours = ARGV[3] .. '|'
        local current = redis.call('GET', KEYS[1])
        local newer = false
        if current and string.sub(current, 1, #ours) == ours then
          local rest = string.sub(current, #ours + 1)
          local bar = string.find(rest, '|', 1, true)
          local version = bar and tonumber(string.sub(rest, 1, bar - 1))
          newer = version ~= nil and version >= tonumber(ARGV[1])
        end
        if not newer then
          redis.call('SET', KEYS[1], ours .. ARGV[1] .. '|', 'EX', ARGV[2])
        end
        if KEYS[3] then
          redis.call('INCR', KEYS[3])
        end
        local reached, unreached = {}, 0
        local window = tonumber(ARGV[4])
        if window > 0 then
          local now = redis.call('TIME')
          local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
          redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ms - window)
          for _, holder in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
            if holder ~= ARGV[5] then
              if redis.call('PUBLISH', ARGV[6] .. holder, ARGV[7]) > 0 then
                reached[#reached + 1] = holder
              else
                unreached = unreached + 1
              end
            end
          end
        end
        return {reached, unreached}
        ",
    )
});

/// Lets a test stop a reader between its database read and its cache fill.
#[derive(Debug, Default)]
pub struct FillPause {
    pub reached: Notify,
    pub resume: Notify,
}

/// A replica that will keep a local copy of what it reads, as its Redis read records it.
#[derive(Debug, Clone, Copy)]
pub struct Holder<'a> {
    pub replica: &'a str,
    /// How long the record counts, in milliseconds.
    pub window_ms: u64,
    /// How long the set of holders lives after a read (milliseconds). As long as a cached
    /// product: under `maxmemory`, `volatile-ttl` evicts what expires soonest, and a holder set
    /// evicted while it still counts would let a write return without telling its holders.
    pub set_ttl_ms: u64,
}

/// What a cache read found.
#[derive(Debug)]
pub enum CachedProduct {
    Hit(Bytes),
    /// Not served from the cache: read PostgreSQL, then fill with this stamp (`None`: Redis did
    /// not answer, so no fill).
    Miss {
        stamp: Option<i64>,
    },
}

impl CachedProduct {
    /// Whether the read reached Redis (and so recorded its holder, if it gave one).
    pub fn reached_redis(&self) -> bool {
        !matches!(self, Self::Miss { stamp: None })
    }
}

#[derive(Debug)]
pub struct ProductCache {
    redis: Redis,
    key_prefix: String,
    /// The database's incarnation, at the head of every value.
    incarnation: String,
    ttl_secs: u64,
    /// The freshness lease A: how long after its stamp a value may be served.
    fresh: Duration,
    tombstone_ttl_secs: u64,
    /// Tombstones Redis missed: product id → version.
    pending: Mutex<HashMap<i64, i64>>,
    pending_len: AtomicUsize,
    flushing: tokio::sync::Mutex<()>,
    metrics: ProductMetrics,
    /// Set only by a test's [`ProductCache::pause_next_fill`]: production fills read this one
    /// flag and never take the lock behind it.
    pause_armed: AtomicBool,
    pause: Mutex<Option<Arc<FillPause>>>,
}

impl ProductCache {
    pub fn new(
        redis: Redis,
        (key_prefix, incarnation): (String, String),
        (ttl, fresh): (Duration, Duration),
        metrics: ProductMetrics,
    ) -> Self {
        Self {
            redis,
            key_prefix,
            incarnation,
            ttl_secs: ttl.as_secs(),
            fresh,
            tombstone_ttl_secs: ttl.max(MIN_TOMBSTONE_TTL).as_secs(),
            pending: Mutex::new(HashMap::new()),
            pending_len: AtomicUsize::new(0),
            flushing: tokio::sync::Mutex::new(()),
            metrics,
            pause_armed: AtomicBool::new(false),
            pause: Mutex::new(None),
        }
    }

    /// `product:{id}`, after the configured prefix.
    pub fn key(&self, id: i64) -> String {
        format!("{}product:{id}", self.key_prefix)
    }

    /// How long a cached product lives in Redis.
    pub fn ttl(&self) -> Duration {
        Duration::from_secs(self.ttl_secs)
    }

    /// The incarnation of the database this cache belongs to (see [`super::incarnation`]).
    pub fn incarnation(&self) -> &str {
        &self.incarnation
    }

    /// The sorted set of the replicas that recently read product `id` (see [`super::announce`]).
    pub fn holders_key(&self, id: i64) -> String {
        format!("{}product:{id}:holders", self.key_prefix)
    }

    /// The freshness lease A: what a write whose tombstone did not land waits before it returns.
    pub fn fresh(&self) -> Duration {
        self.fresh
    }

    /// The cached JSON of product `id` while it is fresh; else a miss, with the stamp a fill
    /// after the database read must carry. A `holder` is recorded as having read the product,
    /// if the read reaches Redis ([`CachedProduct::reached_redis`]).
    pub async fn get(&self, id: i64, holder: Option<Holder<'_>>) -> CachedProduct {
        if !self.usable_for(id).await {
            self.metrics.cache_miss();
            return CachedProduct::Miss { stamp: None };
        }
        match self
            .redis
            .invoke::<(Option<Vec<u8>>, i64)>(
                READ.key(self.key(id))
                    .key(self.holders_key(id))
                    .arg(holder.map_or("", |holder| holder.replica))
                    .arg(holder.map_or(0, |holder| holder.window_ms))
                    .arg(holder.map_or(0, |holder| holder.set_ttl_ms)),
            )
            .await
        {
            Ok((Some(value), now_ms)) => match parse_entry(&value, &self.incarnation) {
                Some((stamp, start)) if is_fresh(stamp, now_ms, self.fresh) => {
                    self.metrics.cache_hit();
                    CachedProduct::Hit(Bytes::from(value).slice(start..))
                }
                // A tombstone, a value of another database or not in this layout, or one past
                // its freshness lease.
                _ => {
                    self.metrics.cache_miss();
                    CachedProduct::Miss {
                        stamp: Some(now_ms),
                    }
                }
            },
            Ok((None, now_ms)) => {
                self.metrics.cache_miss();
                CachedProduct::Miss {
                    stamp: Some(now_ms),
                }
            }
            Err(error) => {
                self.failed(&error);
                CachedProduct::Miss { stamp: None }
            }
        }
    }

    /// Caches `json` as product `id` at `version`, read after Redis's clock said `stamp`,
    /// unless the cache knows a newer state.
    pub async fn fill(&self, id: i64, version: i64, stamp: i64, json: &[u8]) {
        if self.pause_armed.load(Ordering::Acquire) {
            self.pause_if_asked().await;
        }
        if !self.usable_for(id).await {
            return;
        }
        let outcome = self
            .redis
            .invoke::<i64>(
                FILL.key(self.key(id))
                    .arg(version)
                    .arg(json)
                    .arg(self.ttl_secs)
                    .arg(stamp)
                    .arg(&self.incarnation),
            )
            .await;
        if let Err(error) = outcome {
            self.failed(&error);
        }
    }

    /// After a committed write: no value older than `version` may be served again, and the
    /// other replicas that recently read product `id` are told `announce`; with `generation`,
    /// that key is incremented in the same call. Returns whom it told, or `None` if the
    /// tombstone (and the increment) did not land: then the writer must wait out
    /// [`Self::fresh`] (and the local-copy lease).
    pub async fn invalidate(
        &self,
        id: i64,
        version: i64,
        announce: &Announce<'_>,
        generation: Option<&str>,
    ) -> Option<Told> {
        let told = self
            .tombstone(id, version, Some(announce), generation)
            .await;
        if let Err(error) = &told {
            self.failed(error);
            let mut pending = self.pending.lock().expect("pending lock");
            let entry = pending.entry(id).or_insert(version);
            *entry = (*entry).max(version);
            self.pending_len.store(pending.len(), Ordering::Release);
            tracing::warn!(
                product_id = id,
                "cache invalidation deferred until Redis answers"
            );
        }
        told.ok()
    }

    /// Makes the next fill wait after its database read until the test says so.
    #[doc(hidden)]
    pub fn pause_next_fill(&self) -> Arc<FillPause> {
        let pause = Arc::new(FillPause::default());
        *self.pause.lock().expect("pause lock") = Some(pause.clone());
        self.pause_armed.store(true, Ordering::Release);
        pause
    }

    /// The test hook's slow path: the first fill after [`ProductCache::pause_next_fill`] takes
    /// the pause and waits.
    async fn pause_if_asked(&self) {
        let pause = {
            let mut slot = self.pause.lock().expect("pause lock");
            self.pause_armed.store(false, Ordering::Release);
            slot.take()
        };
        if let Some(pause) = pause {
            pause.reached.notify_one();
            pause.resume.notified().await;
        }
    }

    /// Leaves the tombstone, tells the recent holders `announce` (none without one), and
    /// increments `generation` when given.
    async fn tombstone(
        &self,
        id: i64,
        version: i64,
        announce: Option<&Announce<'_>>,
        generation: Option<&str>,
    ) -> Result<Told, RedisError> {
        let mut invocation = TOMBSTONE.key(self.key(id));
        invocation.key(self.holders_key(id));
        if let Some(generation) = generation {
            invocation.key(generation);
        }
        invocation
            .arg(version)
            .arg(self.tombstone_ttl_secs)
            .arg(&self.incarnation)
            .arg(announce.map_or(0, |announce| announce.window_ms))
            .arg(announce.map_or("", |announce| announce.writer))
            .arg(announce.map_or("", |announce| announce.channel_prefix))
            .arg(announce.map_or("", |announce| announce.message.as_str()));
        let (reached, unreached) = self
            .redis
            .invoke::<(Vec<String>, usize)>(&invocation)
            .await?;
        Ok(Told { reached, unreached })
    }

    /// Whether the cache may be used for `id`: only once the tombstones Redis missed are in.
    async fn usable_for(&self, id: i64) -> bool {
        if self.pending_len.load(Ordering::Acquire) == 0 {
            return true;
        }
        self.flush_pending().await;
        !self.pending.lock().expect("pending lock").contains_key(&id)
    }

    async fn flush_pending(&self) {
        // One flusher at a time; the others read PostgreSQL meanwhile if their id is pending.
        let Ok(_flushing) = self.flushing.try_lock() else {
            return;
        };
        let snapshot: Vec<(i64, i64)> = self
            .pending
            .lock()
            .expect("pending lock")
            .iter()
            .map(|(id, version)| (*id, *version))
            .collect();
        for (id, version) in snapshot {
            // Nobody to tell: the write that missed its tombstone waited every lease out.
            if let Err(error) = self.tombstone(id, version, None, None).await {
                self.failed(&error);
                return;
            }
            let mut pending = self.pending.lock().expect("pending lock");
            // A newer write may have been deferred meanwhile: keep that one.
            if pending.get(&id) == Some(&version) {
                pending.remove(&id);
            }
            self.pending_len.store(pending.len(), Ordering::Release);
        }
    }

    fn failed(&self, error: &RedisError) {
        self.metrics.cache_error(match error {
            RedisError::CircuitOpen => "circuit_open",
            RedisError::Timeout => "timeout",
            RedisError::Unavailable(_) => "unavailable",
            RedisError::Command(_) => "command",
        });
        if !matches!(error, RedisError::CircuitOpen) {
            tracing::warn!(
                error = error as &dyn std::error::Error,
                "product cache call failed"
            );
        }
    }
}

/// Whether a value stamped at `stamp_ms` may still be served at `now_ms` (both Redis's clock).
pub(crate) fn is_fresh(stamp_ms: i64, now_ms: i64, fresh: Duration) -> bool {
    now_ms - stamp_ms < i64::try_from(fresh.as_millis()).unwrap_or(i64::MAX)
}

/// The stamp of a cache value of `incarnation` and where its product JSON starts, or `None` for
/// a tombstone, a value of another incarnation, or one not in our format
/// (`<incarnation>|<version>|<stamp>|<json>`).
fn parse_entry(value: &[u8], incarnation: &str) -> Option<(i64, usize)> {
    let head = incarnation.len();
    if value.get(..head)? != incarnation.as_bytes() || value.get(head) != Some(&b'|') {
        return None;
    }
    let after_incarnation = head + 1;
    let rest = &value[after_incarnation..];
    let bar = rest.iter().position(|byte| *byte == b'|')?;
    std::str::from_utf8(&rest[..bar])
        .ok()?
        .parse::<i64>()
        .ok()?;
    let rest = &rest[bar + 1..];
    let second = rest.iter().position(|byte| *byte == b'|')?;
    let stamp = std::str::from_utf8(&rest[..second])
        .ok()?
        .parse::<i64>()
        .ok()?;
    let start = after_incarnation + bar + 1 + second + 1;
    (start < value.len()).then_some((stamp, start))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry_payload(value: &[u8]) -> Option<(i64, &[u8])> {
        parse_entry(value, "ab12.16384.1").map(|(stamp, start)| (stamp, &value[start..]))
    }

    #[test]
    fn a_value_is_fresh_only_within_the_lease() {
        let lease = Duration::from_millis(500);
        assert!(is_fresh(1_000, 1_499, lease));
        assert!(!is_fresh(1_000, 1_500, lease));
        assert!(!is_fresh(1_000, 9_000, lease));
    }

    #[test]
    fn values_are_incarnation_version_stamp_and_payload() {
        assert_eq!(
            entry_payload(b"ab12.16384.1|3|1700000000000|{\"id\":1}"),
            Some((1_700_000_000_000, &b"{\"id\":1}"[..]))
        );
        assert_eq!(
            entry_payload(b"ab12.16384.1|3|"),
            None,
            "a tombstone is a miss"
        );
        assert_eq!(
            entry_payload(b"ab12.16384.2|3|1700000000000|{\"id\":1}"),
            None,
            "another incarnation: a database recovered to another timeline"
        );
        assert_eq!(
            entry_payload(b"ab12.16384|3|1700000000000|{\"id\":1}"),
            None,
            "an incarnation that is a prefix of ours is not ours"
        );
        assert_eq!(
            entry_payload(b"3|1700000000000|{\"id\":1}"),
            None,
            "no incarnation: an older layout"
        );
        assert_eq!(entry_payload(b"ab12.16384.1|x|1|{}"), None);
        assert_eq!(entry_payload(b"ab12.16384.1|3|1|"), None, "no payload");
        assert_eq!(entry_payload(b"ab12.16384.1"), None);
    }
}
