//! What handlers share.

use std::sync::Arc;

use crate::cache::ProductCaches;
use crate::metrics::ProductMetrics;
use crate::repository::ProductsRepository;
use crate::reservations::ReservationLedger;

#[derive(Debug)]
pub struct AppState {
    pub products: ProductsRepository,
    pub ledger: ReservationLedger,
    /// Shared with the reservation sweeper, which invalidates what it returns to stock.
    pub caches: Arc<ProductCaches>,
    pub metrics: ProductMetrics,
}
