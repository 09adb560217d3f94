//! Giving stock back. A cancelled or deleted order's reservation is released right after the
//! change commits; if the Product Service cannot be reached then, the order stays marked
//! unreleased and this worker retries until it succeeds. The Product Service releases a
//! reservation at most once, so retries never return stock twice.
//!
//! A stored order's reservation is confirmed to the Product Service (whose sweeper would
//! otherwise return it to stock after `RESERVATION_TTL_SECS`); a confirmation that failed is
//! retried here too, as the order row remembers it (`reservation_confirmed`).
//!
//! A reservation whose order was never stored is released in the background, as a task of this
//! worker: it stops retrying at shutdown and the worker waits for it before it ends.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use crate::metrics::{OrderMetrics, OutcomeLabels};
use crate::product_client::{Confirmation, ProductClient};
use crate::repository::OrdersRepository;

#[derive(Debug)]
pub struct Releaser {
    orders: OrdersRepository,
    products: ProductClient,
    metrics: OrderMetrics,
    interval: Duration,
    /// Releases of unsaved orders' stock in progress.
    orphans: TaskTracker,
    /// Cancelled at shutdown: those releases stop retrying.
    stopping: CancellationToken,
}

impl Releaser {
    pub fn new(
        orders: OrdersRepository,
        products: ProductClient,
        metrics: OrderMetrics,
        interval: Duration,
    ) -> Self {
        Self {
            orders,
            products,
            metrics,
            interval,
            orphans: TaskTracker::new(),
            stopping: CancellationToken::new(),
        }
    }

    /// Releases one order's reservation now; false if it must be retried later.
    pub async fn release(&self, order_id: i64, reservation_id: Uuid) -> bool {
        match self.products.release(reservation_id).await {
            Ok(()) => {
                if let Err(error) = self.orders.mark_released(order_id).await {
                    // Released but not recorded: the retry releases nothing more.
                    tracing::warn!(order_id, error = %error, "release not recorded");
                }
                self.metrics
                    .releases
                    .get_or_create(&OutcomeLabels {
                        outcome: "released",
                    })
                    .inc();
                true
            }
            Err(error) => {
                tracing::warn!(order_id, error = %error, "stock release failed; will retry");
                self.metrics
                    .releases
                    .get_or_create(&OutcomeLabels { outcome: "failed" })
                    .inc();
                false
            }
        }
    }

    /// Confirms a stored order's reservation; false if it must be retried later.
    pub async fn confirm(&self, order_id: i64, reservation_id: Uuid) -> bool {
        let outcome = match self.products.confirm(reservation_id).await {
            Ok(Confirmation::Confirmed) => "confirmed",
            Ok(Confirmation::Gone(reason)) => {
                tracing::error!(order_id, %reservation_id, %reason, "reservation could not be confirmed");
                "gone"
            }
            Err(error) => {
                tracing::warn!(order_id, error = %error, "reservation confirmation failed; will retry");
                "failed"
            }
        };
        self.metrics
            .confirmations
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
        if outcome == "failed" {
            return false;
        }
        if let Err(error) = self.orders.mark_confirmed(order_id).await {
            // Confirmed but not recorded: the retry confirms again, which changes nothing.
            tracing::warn!(order_id, error = %error, "confirmation not recorded");
        }
        true
    }

    /// Releases, in the background, a reservation whose order was never stored.
    pub fn release_orphan_later(self: &Arc<Self>, reservation_id: Uuid) {
        let releaser = self.clone();
        self.orphans.spawn(async move {
            if !releaser.release_orphan(reservation_id).await {
                tracing::error!(%reservation_id, "reserved stock of an unsaved order could not be released");
            }
        });
    }

    /// Releases a reservation whose order was never stored, retrying a few times (until
    /// shutdown): nothing in the database remembers it.
    pub async fn release_orphan(&self, reservation_id: Uuid) -> bool {
        for attempt in 0..5_u32 {
            if self.products.release(reservation_id).await.is_ok() {
                return true;
            }
            tokio::select! {
                () = self.stopping.cancelled() => break,
                () = tokio::time::sleep(Duration::from_millis(200 * 2_u64.pow(attempt))) => {}
            }
        }
        false
    }

    /// Retries every pending confirmation and release once; returns how many are still pending.
    pub async fn release_pending(&self) -> usize {
        self.confirm_pending().await + self.release_unreleased().await
    }

    async fn confirm_pending(&self) -> usize {
        let pending = match self.orders.unconfirmed(100).await {
            Ok(pending) => pending,
            Err(error) => {
                tracing::warn!(error = %error, "cannot list unconfirmed reservations");
                return 0;
            }
        };
        let mut left = 0;
        for (order_id, reservation_id) in pending {
            if !self.confirm(order_id, reservation_id).await {
                left += 1;
            }
        }
        left
    }

    async fn release_unreleased(&self) -> usize {
        let pending = match self.orders.unreleased(100).await {
            Ok(pending) => pending,
            Err(error) => {
                tracing::warn!(error = %error, "cannot list unreleased reservations");
                return 0;
            }
        };
        let mut left = 0;
        for (order_id, reservation_id) in pending {
            if !self.release(order_id, reservation_id).await {
                left += 1;
            }
        }
        left
    }

    /// Retries pending releases every interval until `shutdown`, then waits for the releases
    /// of unsaved orders still running (each ends after its current attempt).
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(self.interval) => {}
            }
            self.release_pending().await;
        }
        self.stopping.cancel();
        self.orphans.close();
        self.orphans.wait().await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use shop_config::Secret;
    use shop_telemetry::metrics::Metrics;

    use super::*;

    /// A Product Service stand-in that answers every request 503 on a connection of its own:
    /// each release attempt fails, and is counted before the attempt can see its failure. (A
    /// connection closed unanswered would not do: the HTTP client sends such a request again.)
    async fn failing_products() -> (String, Arc<AtomicUsize>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let attempts = Arc::new(AtomicUsize::new(0));
        let counted = attempts.clone();
        tokio::spawn(async move {
            while let Ok((mut connection, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                let mut request = [0_u8; 4096];
                let _ = connection.read(&mut request).await;
                let _ = connection
                    .write_all(
                        b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\
                          connection: close\r\n\r\n",
                    )
                    .await;
            }
        });
        (url, attempts)
    }

    /// A releaser against `products` whose database is never reached (the periodic retry
    /// never comes round).
    fn releaser(products: &str) -> Arc<Releaser> {
        shop_http::server::install_crypto_provider();
        let products = ProductClient::new(
            products,
            Secret::new("test-service-token"),
            Duration::from_secs(1),
        )
        .unwrap();
        let mut database = deadpool_postgres::Config::new();
        database.url = Some("postgres://127.0.0.1:9/never".into());
        let pool = database
            .create_pool(
                Some(deadpool_postgres::Runtime::Tokio1),
                tokio_postgres::NoTls,
            )
            .unwrap();
        let metrics = OrderMetrics::register(&Metrics::new());
        Arc::new(Releaser::new(
            OrdersRepository::new(pool),
            products,
            metrics,
            Duration::from_secs(3600),
        ))
    }

    #[tokio::test]
    async fn shutdown_stops_an_unsaved_orders_release_and_waits_for_it() {
        let (products, attempts) = failing_products().await;
        let releaser = releaser(&products);
        releaser.release_orphan_later(Uuid::now_v7());
        let shutdown = CancellationToken::new();
        shutdown.cancel();
        // Only a guard against a hang: how long the worker takes is not the point, how many
        // attempts the release made is.
        tokio::time::timeout(Duration::from_secs(60), releaser.clone().run(shutdown))
            .await
            .expect("the worker ends");
        // Its retries would make five attempts; at shutdown it gives up after the current one.
        assert_eq!(attempts.load(Ordering::SeqCst), 1);
        assert!(
            releaser.orphans.is_empty(),
            "the release task ended before the worker"
        );
    }
}
