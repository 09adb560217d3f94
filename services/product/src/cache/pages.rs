//! Cache of `GET /products` pages in Redis, safe against stale pages by *generation*.
//!
//! A page could be changed by any write to any product, so pages are not invalidated one by
//! one: they are stored under the current generation, `{prefix}products:page:{generation}:{query}`,
//! and every committed write increments `{prefix}products:generation` before it returns. A read
//! fetches the generation and the page of that generation in one script call; after a write the
//! generation has moved on, so older pages are never looked up again and simply expire. A slow
//! reader that read PostgreSQL before a write stores its page under the generation it saw,
//! which no later read uses — the race of plain cache-aside cannot happen here.
//!
//! If the increment fails (Redis down), pages are not used by this process until an increment
//! succeeds. The other replicas cannot know that, so a page, like a product
//! ([`super::entries`]), carries a stamp of Redis's clock taken before its database read, and
//! is served only while younger than the freshness lease; a writer whose increment failed waits
//! the lease out before it returns.
//!
//! The generation outlives a database (a database created again counts on from where the old
//! one left it, and may meet its pages), so a page also names the database's incarnation:
//! `"<incarnation>|<stamp ms>|<page JSON>"`, and a page of another incarnation is a miss.
//!
//! Only unfiltered first pages are cached ([`ListCache::query_key`]), so the keys a generation
//! can hold are bounded whatever clients send; they expire after `ttl`.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::{self, Script};
use shop_redis::{Redis, RedisError};

use super::entries::is_fresh;
use crate::metrics::ProductMetrics;
use crate::repository::ListFilter;

/// KEYS[1] generation key; ARGV[1] page key prefix, ARGV[2] query. Returns {generation,
/// Redis's clock in milliseconds, page}.
static LOOKUP: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local generation = redis.call('GET', KEYS[1]) or '0'
        local page = redis.call('GET', ARGV[1] .. generation .. ':' .. ARGV[2])
        local now = redis.call('TIME')
        return {generation, tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000), page}
        ",
    )
});

/// What a lookup found.
#[derive(Debug)]
pub enum PageLookup {
    Hit(Vec<u8>),
    /// Not cached: fill under `generation` with `stamp` afterwards, if there are some.
    Miss {
        fill: Option<(i64, i64)>,
    },
}

#[derive(Debug)]
pub struct ListCache {
    redis: Redis,
    generation_key: String,
    page_prefix: String,
    /// The database's incarnation, at the head of every page.
    incarnation: String,
    ttl_secs: u64,
    /// How long after its stamp a page may be served.
    fresh: Duration,
    /// Writes whose increment did not reach Redis, counted; pages are untrusted until an
    /// increment made after the last of them succeeds.
    missed_bumps: AtomicU64,
    /// `missed_bumps` as it was before the last successful repair increment.
    repaired: AtomicU64,
    repairing: tokio::sync::Mutex<()>,
    metrics: ProductMetrics,
}

impl ListCache {
    pub fn new(
        redis: Redis,
        (key_prefix, incarnation): (&str, &str),
        (ttl, fresh): (Duration, Duration),
        metrics: ProductMetrics,
    ) -> Self {
        Self {
            redis,
            generation_key: format!("{key_prefix}products:generation"),
            page_prefix: format!("{key_prefix}products:page:"),
            incarnation: incarnation.to_owned(),
            ttl_secs: ttl.as_secs().max(1),
            fresh,
            missed_bumps: AtomicU64::new(0),
            repaired: AtomicU64::new(0),
            repairing: tokio::sync::Mutex::new(()),
            metrics,
        }
    }

    /// The cache key part of a listing query, for the only queries that are cached: unfiltered
    /// first pages. Any other query goes to PostgreSQL. Caching every distinct query would let
    /// anonymous clients create Redis keys without bound (one per name, price or offset); first
    /// pages are what most visitors ask for, and at most 100 of them (one per `limit`) exist
    /// per generation.
    pub fn query_key(filter: &ListFilter) -> Option<String> {
        let first_unfiltered_page = filter.skip == 0
            && filter.after_id.is_none()
            && filter.name.is_none()
            && filter.min_price.is_none()
            && filter.max_price.is_none();
        first_unfiltered_page.then(|| format!("first:l={}", filter.limit))
    }

    pub async fn get(&self, query: &str) -> PageLookup {
        if !self.usable().await {
            self.metrics.list_cache_miss();
            return PageLookup::Miss { fill: None };
        }
        let outcome = self
            .redis
            .invoke::<(i64, i64, Option<Vec<u8>>)>(
                LOOKUP
                    .key(&self.generation_key)
                    .arg(&self.page_prefix)
                    .arg(query),
            )
            .await;
        match outcome {
            Ok((generation, now_ms, page)) => {
                let parsed = page
                    .as_deref()
                    .and_then(|page| parse_page(page, &self.incarnation));
                match (page, parsed) {
                    (Some(mut page), Some((stamp, start)))
                        if is_fresh(stamp, now_ms, self.fresh) =>
                    {
                        self.metrics.list_cache_hit();
                        page.drain(..start);
                        PageLookup::Hit(page)
                    }
                    _ => {
                        self.metrics.list_cache_miss();
                        PageLookup::Miss {
                            fill: Some((generation, now_ms)),
                        }
                    }
                }
            }
            Err(error) => {
                self.failed(&error);
                PageLookup::Miss { fill: None }
            }
        }
    }

    /// Stores a page read after `generation` was seen and Redis's clock said `stamp`.
    pub async fn fill(&self, (generation, stamp): (i64, i64), query: &str, page: &[u8]) {
        let key = format!("{}{generation}:{query}", self.page_prefix);
        let mut value = format!("{}|{stamp}|", self.incarnation).into_bytes();
        value.extend_from_slice(page);
        let outcome = self
            .redis
            .query::<()>(
                redis::cmd("SET")
                    .arg(key)
                    .arg(value)
                    .arg("EX")
                    .arg(self.ttl_secs),
            )
            .await;
        if let Err(error) = outcome {
            self.failed(&error);
        }
    }

    /// After a committed write: every page cached so far is out of date. Returns whether the
    /// increment landed; if not, the writer must wait out the freshness lease.
    pub async fn invalidate(&self) -> bool {
        let bumped = self.bump().await;
        if let Err(error) = &bumped {
            self.failed(error);
        }
        self.bumped(bumped.is_ok())
    }

    /// The generation's key, for a caller that increments it in a script of its own (a
    /// product's tombstone) and reports the outcome to [`Self::bumped`].
    pub fn generation_key(&self) -> &str {
        &self.generation_key
    }

    /// Records whether an increment made elsewhere landed (its error is the caller's to
    /// report), and returns it: one that did not leaves pages unused here until a later one
    /// lands.
    pub fn bumped(&self, landed: bool) -> bool {
        if !landed {
            self.missed_bumps.fetch_add(1, Ordering::AcqRel);
        }
        landed
    }

    async fn bump(&self) -> Result<i64, RedisError> {
        self.redis
            .query::<i64>(redis::cmd("INCR").arg(&self.generation_key))
            .await
    }

    /// Whether pages may be used: only once an increment has landed after every write whose
    /// own increment was missed (that later increment orders after those writes' commits).
    async fn usable(&self) -> bool {
        if self.missed_bumps.load(Ordering::Acquire) == self.repaired.load(Ordering::Acquire) {
            return true;
        }
        let _repairing = self.repairing.lock().await;
        let missed = self.missed_bumps.load(Ordering::Acquire);
        if missed == self.repaired.load(Ordering::Acquire) {
            return true;
        }
        match self.bump().await {
            Ok(_) => {
                self.repaired.fetch_max(missed, Ordering::AcqRel);
                missed == self.missed_bumps.load(Ordering::Acquire)
            }
            Err(error) => {
                self.failed(&error);
                false
            }
        }
    }

    fn failed(&self, error: &RedisError) {
        self.metrics.cache_error(match error {
            RedisError::CircuitOpen => "circuit_open",
            RedisError::Timeout => "timeout",
            RedisError::Unavailable(_) => "unavailable",
            RedisError::Command(_) => "command",
        });
    }
}

/// The stamp of a cached page of `incarnation` and where its JSON starts
/// (`<incarnation>|<stamp>|<json>`), or `None` for a page of another incarnation or not in that
/// layout.
fn parse_page(value: &[u8], incarnation: &str) -> Option<(i64, usize)> {
    let head = incarnation.len();
    if value.get(..head)? != incarnation.as_bytes() || value.get(head) != Some(&b'|') {
        return None;
    }
    let rest = &value[head + 1..];
    let bar = rest.iter().position(|byte| *byte == b'|')?;
    let stamp = std::str::from_utf8(&rest[..bar])
        .ok()?
        .parse::<i64>()
        .ok()?;
    Some((stamp, head + 1 + bar + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_incarnation_stamp_and_json() {
        assert_eq!(
            parse_page(b"ab12.16384.1|1700000000000|{\"items\":[]}", "ab12.16384.1"),
            Some((1_700_000_000_000, 27))
        );
        assert_eq!(
            parse_page(b"ab12.99999.1|1700000000000|{\"items\":[]}", "ab12.16384.1"),
            None,
            "another database's page"
        );
        assert_eq!(
            parse_page(b"1700000000000|{\"items\":[]}", "ab12.16384.1"),
            None,
            "no incarnation: an older layout"
        );
    }
}
