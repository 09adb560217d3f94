//! What handlers share.

use std::sync::Arc;

use shop_host::Tasks;

use crate::metrics::OrderMetrics;
use crate::product_client::ProductClient;
use crate::releases::Releaser;
use crate::repository::OrdersRepository;
use crate::write_rate::WriteRate;

#[derive(Debug)]
pub struct AppState {
    pub orders: OrdersRepository,
    pub products: ProductClient,
    pub releaser: Arc<Releaser>,
    pub metrics: OrderMetrics,
    /// The per-customer rate of order writes, shared by the replicas through the database.
    pub write_rate: WriteRate,
    /// The host's task set: orders are placed in tasks of it, which shutdown waits for.
    pub tasks: Tasks,
}
