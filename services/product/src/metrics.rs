//! Business and cache metrics of the Product Service.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use shop_telemetry::metrics::Metrics;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Debug, Clone, Default)]
pub struct ProductMetrics {
    cache_hits: Counter,
    local_copy_hits: Counter,
    cache_misses: Counter,
    cache_errors: Family<ErrorLabels, Counter>,
    list_cache_hits: Counter,
    list_cache_misses: Counter,
    write_waits: Family<ReasonLabels, Counter>,
    products_viewed: Counter,
    reservations: Family<OutcomeLabels, Counter>,
    reservations_swept: Counter,
}

impl ProductMetrics {
    pub fn register(metrics: &Metrics) -> Self {
        let this = Self::default();
        metrics.register(
            "product_cache_hits",
            "GET /products/{id} answered from Redis",
            this.cache_hits.clone(),
        );
        metrics.register(
            "product_local_copy_hits",
            "GET /products/{id} answered from this replica's copy (at most PRODUCT_LOCAL_COPY_MS old)",
            this.local_copy_hits.clone(),
        );
        metrics.register(
            "product_cache_misses",
            "GET /products/{id} that had to read PostgreSQL",
            this.cache_misses.clone(),
        );
        metrics.register(
            "product_cache_errors",
            "Cache calls that failed, by kind (circuit_open, timeout, unavailable, command)",
            this.cache_errors.clone(),
        );
        metrics.register(
            "product_list_cache_hits",
            "GET /products pages answered from Redis",
            this.list_cache_hits.clone(),
        );
        metrics.register(
            "product_list_cache_misses",
            "GET /products pages read from PostgreSQL",
            this.list_cache_misses.clone(),
        );
        metrics.register(
            "product_cache_write_waits",
            "Product writes by what they waited for before returning: no_holder (no other \
             replica held a local copy), acked (every holder dropped its copy), lease (a holder \
             did not answer: PRODUCT_LOCAL_COPY_MS), freshness (Redis missed the invalidation: \
             PRODUCT_CACHE_FRESH_MS as well)",
            this.write_waits.clone(),
        );
        metrics.register(
            "products_viewed",
            "Products shown to clients by GET /products/{id}",
            this.products_viewed.clone(),
        );
        metrics.register(
            "stock_reservations",
            "Reservation requests by outcome (reserved, repeated, insufficient, released, confirmed, retaken, lost)",
            this.reservations.clone(),
        );
        metrics.register(
            "stock_reservations_swept",
            "Reservations no order confirmed within RESERVATION_TTL_SECS, returned to stock",
            this.reservations_swept.clone(),
        );
        this
    }

    pub fn local_copy_hit(&self) {
        self.local_copy_hits.inc();
    }

    pub fn cache_hit(&self) {
        self.cache_hits.inc();
    }

    pub fn cache_miss(&self) {
        self.cache_misses.inc();
    }

    pub fn list_cache_hit(&self) {
        self.list_cache_hits.inc();
    }

    pub fn list_cache_miss(&self) {
        self.list_cache_misses.inc();
    }

    pub fn cache_error(&self, kind: &'static str) {
        self.cache_errors.get_or_create(&ErrorLabels { kind }).inc();
    }

    pub fn write_waited(&self, reason: &'static str) {
        self.write_waits
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }

    pub fn product_viewed(&self) {
        self.products_viewed.inc();
    }

    pub fn reservation(&self, outcome: &'static str) {
        self.reservations
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    pub fn reservations_swept(&self, count: u64) {
        self.reservations_swept.inc_by(count);
    }
}
