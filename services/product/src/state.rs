//! What handlers share.

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
        tokio::join!(self.cache.invalidate(id, version), self.pages.invalidate());
        self.local.wait_out(id).await;
    }

    /// After a committed insert: listing pages may lack the new product.
    pub async fn product_added(&self) {
        self.pages.invalidate().await;
    }
}
