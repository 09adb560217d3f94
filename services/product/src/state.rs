//! What handlers share.

use crate::cache::ProductCache;
use crate::metrics::ProductMetrics;
use crate::repository::ProductsRepository;

#[derive(Debug)]
pub struct AppState {
    pub products: ProductsRepository,
    pub cache: ProductCache,
    pub metrics: ProductMetrics,
}
