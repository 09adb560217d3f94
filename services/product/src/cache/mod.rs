//! The three caches in front of PostgreSQL, and the one way a committed write invalidates them.
//!
//! - [`entries`]: `GET /products/{id}` in Redis, versioned, with tombstones so that no read
//!   returns a value older than a write that has returned;
//! - [`local_copy`]: each replica's own short-lived copies in front of Redis;
//! - [`pages`]: `GET /products` pages in Redis under a generation every write moves on;
//! - [`incarnation`]: which database the cached values belong to.
//!
//! [`ProductCaches`] holds them together so that a route and the reservation sweeper invalidate
//! in the same order without either knowing the other.

use futures_util::future::join_all;

pub mod entries;
pub mod incarnation;
pub mod local_copy;
pub mod pages;

pub use entries::{CachedProduct, DELETED, ProductCache};
pub use local_copy::LocalCopies;
pub use pages::{ListCache, PageLookup};

/// Every cache of the catalogue.
#[derive(Debug)]
pub struct ProductCaches {
    pub entries: ProductCache,
    /// In front of `entries`: see [`local_copy`].
    pub local: LocalCopies,
    pub pages: ListCache,
}

impl ProductCaches {
    /// After a committed change of product `id` (now at `version`): neither its cached value,
    /// nor any replica's local copy, nor any cached listing page may be served again once this
    /// returns.
    pub async fn product_changed(&self, id: i64, version: i64) {
        self.products_changed(&[(id, version)]).await;
    }

    /// [`Self::product_changed`] for several products at once (`(id, version)` each): the
    /// listing pages are invalidated once and the local-copy window is waited out once.
    pub async fn products_changed(&self, changes: &[(i64, i64)]) {
        if changes.is_empty() {
            return;
        }
        let tombstones = join_all(
            changes
                .iter()
                .map(|&(id, version)| self.entries.invalidate(id, version)),
        );
        let (landed, page_bump_landed) = tokio::join!(tombstones, self.pages.invalidate());
        self.local.wait_out(changes.iter().map(|&(id, _)| id)).await;
        if !(page_bump_landed && landed.into_iter().all(|landed| landed)) {
            // Another replica may still hold the old value in Redis: it stops serving it once
            // its stamp is older than the freshness lease (see `entries`).
            self.wait_out_freshness().await;
        }
    }

    /// After a committed insert: listing pages may lack the new product.
    pub async fn product_added(&self) {
        if !self.pages.invalidate().await {
            self.wait_out_freshness().await;
        }
    }

    async fn wait_out_freshness(&self) {
        tokio::time::sleep(self.entries.fresh()).await;
    }
}
