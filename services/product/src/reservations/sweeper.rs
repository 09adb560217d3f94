//! The sweeper: every interval, returns to stock the reservations no order confirmed in time.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::ledger::{BATCH, ReservationLedger};
use crate::cache::ProductCaches;
use crate::metrics::ProductMetrics;

/// What a sweep touches: the ledger it sweeps, the caches of the products it restocks, and its
/// counter.
#[derive(Debug, Clone)]
pub struct Sweeper {
    pub ledger: ReservationLedger,
    pub caches: Arc<ProductCaches>,
    pub metrics: ProductMetrics,
}

/// The sweeper's settings.
#[derive(Debug, Clone, Copy)]
pub struct SweepSchedule {
    pub ttl: Duration,
    pub interval: Duration,
}

/// Sweeps every interval until `shutdown`, batch after batch while batches come back full.
pub async fn run_sweeper(sweeper: Sweeper, schedule: SweepSchedule, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(schedule.interval) => {}
        }
        sweep_once(&sweeper, schedule.ttl).await;
    }
}

/// One round; returns how many reservations went back to stock.
pub async fn sweep_once(sweeper: &Sweeper, ttl: Duration) -> u64 {
    let mut total = 0;
    loop {
        let swept = match sweeper.ledger.sweep(ttl).await {
            Ok(swept) => swept,
            Err(error) => {
                tracing::warn!(error = %error, "sweeping unconfirmed reservations failed; will retry");
                return total;
            }
        };
        if swept.reservations > 0 {
            sweeper.metrics.reservations_swept(swept.reservations);
            tracing::info!(
                reservations = swept.reservations,
                "unconfirmed reservations returned to stock"
            );
        }
        // One wait of the local-copy window for the whole batch, not one per product.
        sweeper.caches.products_changed(&swept.products).await;
        total += swept.reservations;
        if swept.reservations < u64::try_from(BATCH).unwrap_or(u64::MAX) {
            return total;
        }
    }
}
