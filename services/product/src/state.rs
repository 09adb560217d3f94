//! What handlers share.

use crate::cache::ProductCache;
use crate::list_cache::ListCache;
use crate::metrics::ProductMetrics;
use crate::repository::ProductsRepository;
use crate::reservations::ReservationLedger;

#[derive(Debug)]
pub struct AppState {
    pub products: ProductsRepository,
    pub ledger: ReservationLedger,
    pub cache: ProductCache,
    pub pages: ListCache,
    pub metrics: ProductMetrics,
}

impl AppState {
    /// After a committed change of product `id` (now at `version`): neither its cached value
    /// nor any cached listing page may be served again.
    pub async fn product_changed(&self, id: i64, version: i64) {
        tokio::join!(self.cache.invalidate(id, version), self.pages.invalidate());
    }

    /// After a committed insert: listing pages may lack the new product.
    pub async fn product_added(&self) {
        self.pages.invalidate().await;
    }
}
