//! What handlers share.

use futures_util::future::join_all;

use crate::cache::ProductCache;
use crate::list_cache::ListCache;
use crate::local_copy::LocalCopies;
use crate::metrics::ProductMetrics;
use crate::repository::ProductsRepository;
use crate::reservations::ReservationLedger;

#[derive(Debug)]
pub struct AppState {
    pub products: ProductsRepository,
    pub ledger: ReservationLedger,
    pub cache: ProductCache,
    /// In front of `cache`: see [`crate::local_copy`].
    pub local: LocalCopies,
    pub pages: ListCache,
    pub metrics: ProductMetrics,
}

impl AppState {
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
                .map(|&(id, version)| self.cache.invalidate(id, version)),
        );
        tokio::join!(tombstones, self.pages.invalidate());
        self.local.wait_out(changes.iter().map(|&(id, _)| id)).await;
    }

    /// After a committed insert: listing pages may lack the new product.
    pub async fn product_added(&self) {
        self.pages.invalidate().await;
    }
}
