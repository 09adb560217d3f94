//! The Notification Service started in-process, consuming its own uniquely named queue (and,
//! unless told otherwise, its own exchange) on the shared RabbitMQ. The queues expire on their
//! own after a test; the exchange is durable (declared as the Order Service declares it), so
//! the topology deletes its own when the last copy of it is dropped.
//!
//! For an end-to-end test with the Order Service, give both the same exchange name:
//! `NotificationTopology::unique().with_exchange(&order_service_exchange)`.

use std::sync::Arc;

use notification_service::config::NotificationConfig;
use shop_config::ServiceConfig as _;
use shop_config::Settings;
use shop_telemetry::metrics::Metrics;

use crate::TestService;
use crate::broker::ExchangeCleanup;
use crate::metric_value;

/// Queue names of one test.
#[derive(Debug, Clone)]
pub struct NotificationTopology {
    pub exchange: String,
    pub queue: String,
    /// Deletes `exchange` when the last copy goes, if this topology made it up (not one
    /// given by [`NotificationTopology::with_exchange`]: that belongs to its owner).
    pub exchange_cleanup: Option<Arc<ExchangeCleanup>>,
}

impl NotificationTopology {
    pub fn unique() -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        Self {
            exchange: format!("test.order_events.{id}"),
            queue: format!("test.order_notifications.{id}"),
            exchange_cleanup: Some(Arc::new(ExchangeCleanup {
                exchange: format!("test.order_events.{id}"),
            })),
        }
    }

    pub fn with_exchange(mut self, exchange: &str) -> Self {
        exchange.clone_into(&mut self.exchange);
        self.exchange_cleanup = None;
        self
    }

    pub fn dead_letters(&self) -> String {
        format!("{}.dead", self.queue)
    }
}

/// What a running Notification Service adds to its handle.
#[derive(Debug)]
pub struct Notifications {
    pub topology: NotificationTopology,
    pub metrics: Arc<Metrics>,
}

/// The Notification Service running in this process.
pub type NotificationServiceHandle = TestService<Notifications>;

/// Settings for a Notification Service under test; `extra` overrides or adds keys (e.g.
/// `NOTIFY_CHANNELS`, `NOTIFY_WEBHOOK_URL`, `AMQP_URL` through a proxy).
pub fn notification_settings(
    topology: &NotificationTopology,
    extra: &[(&'static str, &str)],
) -> Settings {
    crate::service_settings(
        vec![
            ("AMQP_URL", crate::broker::service_url().into()),
            ("AMQP_TIMEOUT_MS", "2000".into()),
            ("NOTIFY_EXCHANGE", topology.exchange.clone()),
            ("NOTIFY_QUEUE", topology.queue.clone()),
            ("NOTIFY_QUEUE_EXPIRES_MS", "300000".into()),
            // Short delays keep retry tests quick; the policy is the same.
            ("NOTIFY_RETRY_DELAY_MS", "100".into()),
            ("NOTIFY_RETRY_MAX_DELAY_MS", "400".into()),
            ("SHUTDOWN_TIMEOUT_SECS", "5".into()),
        ],
        extra,
    )
}

impl NotificationServiceHandle {
    /// Starts the service; its queue is declared and bound when this returns.
    pub async fn start(topology: &NotificationTopology, extra: &[(&'static str, &str)]) -> Self {
        crate::init();
        let config = NotificationConfig::from_settings(notification_settings(topology, extra))
            .expect("test configuration is valid");
        let app = notification_service::build(config)
            .await
            .expect("notification service starts");
        let parts = Notifications {
            topology: topology.clone(),
            metrics: app.exposed().clone(),
        };
        Self::spawn(app, parts)
    }

    /// The value of one sample in `/metrics`, e.g.
    /// `notifications_handled_total{outcome="delivered"}`; 0 when it was never recorded.
    pub fn metric(&self, sample: &str) -> f64 {
        metric_value(&self.metrics.encode(), sample)
    }
}
