//! The three caches in front of PostgreSQL, and the one way a committed write invalidates them.
//!
//! - [`entries`]: `GET /products/{id}` in Redis, versioned, with tombstones so that no read
//!   returns a value older than a write that has returned;
//! - [`local_copy`]: each replica's own short-lived copies in front of Redis;
//! - [`announce`]: how a write makes the replicas holding such a copy drop it;
//! - [`pages`]: `GET /products` pages in Redis under a generation every write moves on;
//! - [`incarnation`]: which database the cached values belong to.
//!
//! [`ProductCaches`] holds them together so that a route and the reservation sweeper invalidate
//! in the same order without either knowing the other.

use futures_util::future::join_all;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub mod announce;
pub mod entries;
pub mod incarnation;
pub mod local_copy;
pub mod pages;

pub use announce::{Announcements, WriteWait};
pub use entries::{CachedProduct, DELETED, Holder, ProductCache};
pub use local_copy::{LocalCopies, Lookup, ReadLead};
pub use pages::{ListCache, PageLookup};

/// Every cache of the catalogue.
#[derive(Debug)]
pub struct ProductCaches {
    pub entries: ProductCache,
    /// In front of `entries`: see [`local_copy`].
    pub local: LocalCopies,
    pub pages: ListCache,
    pub announcements: Announcements,
}

impl ProductCaches {
    /// This replica as a holder of the local copies its reads keep; `None` with copies off, or
    /// while this replica cannot hear announcements.
    pub fn holder(&self) -> Option<Holder<'_>> {
        let listening = self.local.enabled() && self.announcements.listening();
        listening.then(|| {
            let window_ms = self.announcements.window_ms();
            Holder {
                replica: self.announcements.replica(),
                window_ms,
                set_ttl_ms: u64::try_from(self.entries.ttl().as_millis())
                    .unwrap_or(u64::MAX)
                    .max(window_ms),
            }
        })
    }

    /// After a committed change of product `id` (now at `version`): neither its cached value,
    /// nor any replica's local copy, nor any cached listing page may be served again once this
    /// returns.
    pub async fn product_changed(&self, id: i64, version: i64) -> WriteWait {
        self.products_changed(&[(id, version)]).await
    }

    /// This replica's copy of product `id`, or who reads it (see [`LocalCopies::lookup`]). A
    /// replica that cannot hear announcements keeps no copy, so nobody waits for its reads.
    pub fn look_up_copy(&self, id: i64) -> Lookup<'_> {
        if self.holder().is_none() {
            return Lookup::Lead(ReadLead::alone());
        }
        self.local.lookup(id)
    }

    /// [`Self::product_changed`] for several products at once (`(id, version)` each): the
    /// listing pages are invalidated once, and the holders' answers are awaited once.
    pub async fn products_changed(&self, changes: &[(i64, i64)]) -> WriteWait {
        if changes.is_empty() {
            return WriteWait::NoHolder;
        }
        let write = self.announcements.begin();
        // The first tombstone also moves the listing pages' generation on: one round trip.
        let told = join_all(changes.iter().enumerate().map(|(index, &(id, version))| {
            let announce = self.announcements.announce(&write, id);
            let generation = (index == 0).then(|| self.pages.generation_key());
            async move {
                let told = self
                    .entries
                    .invalidate(id, version, &announce, generation)
                    .await;
                (id, told)
            }
        }))
        .await;
        let page_bump_landed = self.pages.bumped(told[0].1.is_some());
        // Every tombstone is in Redis (or failed): a read that begins from now on reads after it.
        let settled_at = Instant::now();
        self.local.forget_all(changes.iter().map(|&(id, _)| id));
        let told: Option<Vec<_>> = told
            .into_iter()
            .map(|(id, told)| told.map(|told| (id, told)))
            .collect();
        match told {
            Some(told) if page_bump_landed => {
                let deadline = settled_at + self.local.lease();
                self.announcements.wait(write, told, deadline).await
            }
            _ => {
                // Another replica may still hold the old value in Redis: it stops serving it
                // once its stamp is older than the freshness lease (see `entries`), and a local
                // copy read from it before then lives δ longer.
                let lease = self.entries.fresh() + self.local.lease();
                tokio::time::sleep_until(settled_at + lease).await;
                self.announcements.waited(WriteWait::Freshness)
            }
        }
    }

    /// After a committed insert: listing pages may lack the new product.
    pub async fn product_added(&self) {
        if !self.pages.invalidate().await {
            tokio::time::sleep(self.entries.fresh()).await;
        }
    }

    /// Hears the announcements of other replicas' writes and the answers to this one's, until
    /// `stop` (a worker of the service).
    pub async fn follow_announcements(&self, stop: CancellationToken) {
        self.announcements.follow(&self.local, stop).await;
    }
}
