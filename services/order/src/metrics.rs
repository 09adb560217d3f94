//! Business metrics of the Order Service. The outbox's series are registered beside them by
//! [`order_outbox::OutboxMetrics`].

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use shop_telemetry::metrics::Metrics;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabels {
    pub status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: &'static str,
}

#[derive(Debug, Clone)]
pub struct OrderMetrics {
    pub orders_created: Counter,
    /// Sum of `total_price` of created orders, in the shop's currency.
    pub revenue: Counter<f64, AtomicU64>,
    pub status_changes: Family<StatusLabels, Counter>,
    pub reservations_failed: Family<OutcomeLabels, Counter>,
    pub releases: Family<OutcomeLabels, Counter>,
    pub confirmations: Family<OutcomeLabels, Counter>,
}

impl OrderMetrics {
    pub fn register(metrics: &Metrics) -> Self {
        let this = Self {
            orders_created: Counter::default(),
            revenue: Counter::default(),
            status_changes: Family::default(),
            reservations_failed: Family::default(),
            releases: Family::default(),
            confirmations: Family::default(),
        };
        metrics.register(
            "orders_created",
            "Orders placed",
            this.orders_created.clone(),
        );
        metrics.register(
            "orders_revenue",
            "Total price of orders placed",
            this.revenue.clone(),
        );
        metrics.register(
            "order_status_changes",
            "Order status changes, by new status",
            this.status_changes.clone(),
        );
        metrics.register(
            "order_reservations_failed",
            "Orders refused at stock reservation, by reason",
            this.reservations_failed.clone(),
        );
        metrics.register(
            "order_reservation_releases",
            "Stock given back for cancelled or deleted orders, by outcome",
            this.releases.clone(),
        );
        metrics.register(
            "order_reservation_confirmations",
            "Reservations confirmed to the Product Service after the order was stored, by outcome \
             (confirmed, gone, failed)",
            this.confirmations.clone(),
        );
        // Exported from the start (at 0), so the alert on failures has a series to watch.
        for outcome in ["confirmed", "gone", "failed"] {
            let _ = this.confirmations.get_or_create(&OutcomeLabels { outcome });
        }
        this
    }
}
