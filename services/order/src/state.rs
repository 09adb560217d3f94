//! What handlers share.

use std::sync::Arc;

use crate::metrics::OrderMetrics;
use crate::product_client::ProductClient;
use crate::releases::Releaser;
use crate::repository::OrdersRepository;

#[derive(Debug)]
pub struct AppState {
    pub orders: OrdersRepository,
    pub products: ProductClient,
    pub releaser: Arc<Releaser>,
    pub metrics: OrderMetrics,
}
