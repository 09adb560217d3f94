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
//! succeeds. Only unfiltered first pages are cached ([`ListCache::query_key`]), so the keys a
//! generation can hold are bounded whatever clients send; they expire after `ttl`.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::{self, Script};
use shop_redis::{Redis, RedisError};

use crate::metrics::ProductMetrics;
use crate::repository::ListFilter;

/// KEYS[1] generation key; ARGV[1] page key prefix, ARGV[2] query. Returns {generation, page}.
static LOOKUP: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local generation = redis.call('GET', KEYS[1]) or '0'
        local page = redis.call('GET', ARGV[1] .. generation .. ':' .. ARGV[2])
        return {generation, page}
        ",
    )
});

/// What a lookup found.
#[derive(Debug)]
pub enum PageLookup {
    Hit(Vec<u8>),
    /// Not cached: fill under `generation` afterwards, if there is one.
    Miss {
        generation: Option<i64>,
    },
}

#[derive(Debug)]
pub struct ListCache {
    redis: Redis,
    generation_key: String,
    page_prefix: String,
    ttl_secs: u64,
    /// Writes whose increment did not reach Redis, counted; pages are untrusted until an
    /// increment made after the last of them succeeds.
    missed_bumps: AtomicU64,
    /// `missed_bumps` as it was before the last successful repair increment.
    repaired: AtomicU64,
    repairing: tokio::sync::Mutex<()>,
    metrics: ProductMetrics,
}

impl ListCache {
    pub fn new(redis: Redis, key_prefix: &str, ttl: Duration, metrics: ProductMetrics) -> Self {
        Self {
            redis,
            generation_key: format!("{key_prefix}products:generation"),
            page_prefix: format!("{key_prefix}products:page:"),
            ttl_secs: ttl.as_secs().max(1),
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
            return PageLookup::Miss { generation: None };
        }
        let outcome = self
            .redis
            .invoke::<(i64, Option<Vec<u8>>)>(
                LOOKUP
                    .key(&self.generation_key)
                    .arg(&self.page_prefix)
                    .arg(query),
            )
            .await;
        match outcome {
            Ok((_, Some(page))) => {
                self.metrics.list_cache_hit();
                PageLookup::Hit(page)
            }
            Ok((generation, None)) => {
                self.metrics.list_cache_miss();
                PageLookup::Miss {
                    generation: Some(generation),
                }
            }
            Err(error) => {
                self.failed(&error);
                PageLookup::Miss { generation: None }
            }
        }
    }

    /// Stores a page read after `generation` was seen.
    pub async fn fill(&self, generation: i64, query: &str, page: &[u8]) {
        let key = format!("{}{generation}:{query}", self.page_prefix);
        let outcome = self
            .redis
            .query::<()>(
                redis::cmd("SET")
                    .arg(key)
                    .arg(page)
                    .arg("EX")
                    .arg(self.ttl_secs),
            )
            .await;
        if let Err(error) = outcome {
            self.failed(&error);
        }
    }

    /// After a committed write: every page cached so far is out of date.
    pub async fn invalidate(&self) {
        if let Err(error) = self.bump().await {
            self.failed(&error);
            self.missed_bumps.fetch_add(1, Ordering::AcqRel);
        }
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
