//! Wiring: from a configuration to a consuming, serving service.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use salvo::conn::tcp::TcpAcceptor;
use salvo::{Router, Service};
use service_runtime::ServiceInfo;
use service_runtime::amqp::{self, AmqpCheck, AmqpLink, ConsumerOptions};
use service_runtime::health::Health;
use service_runtime::metrics::Metrics;
use service_runtime::server::{self, ServiceParts};
use tokio_util::sync::CancellationToken;

use crate::channels::Channel;
use crate::config::NotificationConfig;
use crate::dedup::Dedup;
use crate::handler::Handler;
use crate::metrics::NotificationMetrics;
use crate::topology;

pub const INFO: ServiceInfo = ServiceInfo {
    name: "notification-service",
    version: env!("CARGO_PKG_VERSION"),
    description: env!("CARGO_PKG_DESCRIPTION"),
};

/// A built service, bound to its port, its queues declared if the broker answered.
#[derive(Debug)]
pub struct Application {
    acceptor: TcpAcceptor,
    service: Service,
    health: Arc<Health>,
    metrics: Arc<Metrics>,
    link: Arc<AmqpLink>,
    handler: Arc<Handler>,
    consumer: ConsumerOptions,
    drain: Duration,
}

impl Application {
    pub async fn build(config: NotificationConfig) -> anyhow::Result<Self> {
        let metrics = Metrics::new();
        let consumer_tag = format!("{}-{}", INFO.name, uuid::Uuid::new_v4().simple());
        let link = AmqpLink::new(
            &config.amqp,
            consumer_tag.clone(),
            true,
            topology::declare(&config.consumer),
        );
        // Declaring the queue now means events published from here on wait for us. A broker
        // that is down does not stop the start: the consumer keeps trying and /health says so.
        if let Err(error) = link.channel().await {
            tracing::warn!(error = %error, "RabbitMQ not reachable at start; will keep trying");
        }
        let drain = Duration::from_secs(config.common.shutdown_timeout_secs);
        let handler = Arc::new(Handler {
            link: link.clone(),
            names: config.consumer.names.clone(),
            retry: config.consumer.retry,
            channels: Channel::from_config(&config)?,
            dedup: Dedup::new(config.consumer.dedup_window, config.consumer.dedup_capacity),
            metrics: NotificationMetrics::register(&metrics, &config.channels),
        });
        let health = Health::new(
            INFO,
            vec![Arc::new(AmqpCheck {
                link: link.clone(),
                required: true,
            })],
        );
        let service = server::build_service(ServiceParts {
            info: INFO,
            api: Router::new(),
            health: health.clone(),
            metrics: metrics.clone(),
            max_body_bytes: config.common.max_body_bytes,
        });
        let acceptor = server::bind(config.common.host, config.common.port).await?;
        tracing::info!(
            queue = %config.consumer.names.queue,
            exchange = %config.consumer.names.exchange,
            channels = ?config.channels.iter().map(|kind| kind.name()).collect::<Vec<_>>(),
            "notification service configured"
        );
        Ok(Self {
            acceptor,
            service,
            health,
            metrics,
            link,
            handler,
            consumer: ConsumerOptions {
                queue: config.consumer.names.queue.clone(),
                consumer_tag,
                concurrency: usize::from(config.consumer.prefetch),
                drain,
            },
            drain,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        server::local_addr(&self.acceptor)
    }

    /// The process's metrics, for tests that read counters without scraping.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// Consumes and serves until `shutdown` fires. Then the subscription is cancelled, the
    /// deliveries in hand finish (or, past the drain deadline, return to the queue), the HTTP
    /// server drains, and the connection closes.
    pub async fn run(self, shutdown: CancellationToken) {
        let handler = self.handler;
        let consumer = tokio::spawn(amqp::consume_concurrently(
            self.link.clone(),
            self.consumer,
            shutdown.clone(),
            move |delivery| handler.clone().handle(delivery),
        ));
        server::serve(
            self.acceptor,
            self.service,
            self.health,
            shutdown,
            self.drain,
        )
        .await;
        if let Err(error) = consumer.await {
            tracing::error!(error = %error, "consumer task failed");
        }
        self.link.close().await;
    }
}
