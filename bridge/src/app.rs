//! Wiring: from a configuration to a running bridge with its HTTP surface.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_nats::Client;
use salvo::Service;
use salvo::conn::tcp::TcpAcceptor;
use service_runtime::ServiceInfo;
use service_runtime::amqp::{self, AmqpCheck, AmqpLink, OrderedConsumer};
use service_runtime::health::Health;
use service_runtime::metrics::Metrics;
use service_runtime::nats::{self, NatsCheck, StreamCheck};
use service_runtime::server::{self, ServiceParts};
use tokio_util::sync::CancellationToken;

use crate::config::BridgeConfig;
use crate::metrics::BridgeMetrics;
use crate::mirror::{self, Mirror};
use crate::routes::{self, StreamRouteState};
use crate::topology;

pub const INFO: ServiceInfo = ServiceInfo {
    name: "event-bridge",
    version: env!("CARGO_PKG_VERSION"),
};

/// A built bridge: HTTP bound to its port, brokers connecting in the background.
#[derive(Debug)]
pub struct Application {
    acceptor: TcpAcceptor,
    service: Service,
    health: Arc<Health>,
    drain: Duration,
    link: Arc<AmqpLink>,
    nats: Client,
    nats_timeout: Duration,
    consumer: OrderedConsumer,
    mirror: Arc<Mirror>,
    shutdown: CancellationToken,
}

impl Application {
    /// Never waits for a broker: both connect (and reconnect) on their own, and `/health`
    /// shows which one is missing meanwhile.
    pub async fn build(config: BridgeConfig) -> anyhow::Result<Self> {
        let settings = &config.bridge;
        let metrics = Metrics::new();
        let bridge_metrics = BridgeMetrics::register(&metrics);
        let link = AmqpLink::new(&config.amqp, INFO.name, false, topology::topology(settings));
        let client = nats::connect(&config.nats, INFO.name).await?;
        let jetstream = nats::jetstream(client.clone(), config.nats.timeout());
        let stream = settings.stream_config();

        let health = Health::new(
            INFO,
            vec![
                Arc::new(AmqpCheck {
                    link: link.clone(),
                    required: true,
                }),
                Arc::new(NatsCheck {
                    client: client.clone(),
                    required: true,
                }),
                Arc::new(StreamCheck {
                    context: jetstream.clone(),
                    stream: stream.name.clone(),
                    required: true,
                }),
            ],
        );
        let service = server::build_service(ServiceParts {
            info: INFO,
            api: routes::router(Arc::new(StreamRouteState {
                jetstream: jetstream.clone(),
                settings: settings.clone(),
            })),
            health: health.clone(),
            metrics,
            max_body_bytes: config.common.max_body_bytes,
        });
        let acceptor = server::bind(config.common.host, config.common.port).await?;
        let drain = Duration::from_secs(config.common.shutdown_timeout_secs);
        let shutdown = CancellationToken::new();
        let consumer = OrderedConsumer {
            queue: settings.bridge_queue.clone(),
            consumer_tag: format!("{}-{}", INFO.name, std::process::id()),
            max_in_flight: usize::from(settings.bridge_max_in_flight),
            drain,
            in_flight: bridge_metrics.in_flight.clone(),
        };
        let mirror = Arc::new(Mirror {
            jetstream,
            stream,
            subject_prefix: settings.bridge_subject_prefix.clone(),
            queue: settings.bridge_queue.clone(),
            metrics: bridge_metrics,
            shutdown: shutdown.clone(),
        });
        Ok(Self {
            acceptor,
            service,
            health,
            drain,
            link,
            nats: client,
            nats_timeout: config.nats.timeout(),
            consumer,
            mirror,
            shutdown,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        server::local_addr(&self.acceptor)
    }

    /// Mirrors and serves until `shutdown` fires; then stops consuming, lets the deliveries in
    /// hand finish (their PubAcks awaited, their acks sent) within the drain deadline, flushes
    /// and closes NATS, and closes RabbitMQ (which requeues whatever stayed unacked).
    pub async fn run(self, shutdown: CancellationToken) {
        // The mirror was built with a token of its own (its handlers stop retrying on it); the
        // caller's token fires it.
        let stop = self.shutdown.clone();
        let trigger = shutdown.clone();
        tokio::spawn(async move {
            trigger.cancelled().await;
            stop.cancel();
        });
        let worker = tokio::spawn(mirror_loop(
            self.link.clone(),
            self.consumer.clone(),
            self.mirror.clone(),
            self.shutdown.clone(),
        ));
        server::serve(
            self.acceptor,
            self.service,
            self.health,
            shutdown,
            self.drain,
        )
        .await;
        if let Err(error) = worker.await {
            tracing::error!(error = %error, "the mirroring task failed");
        }
        nats::close(&self.nats, self.nats_timeout).await;
        self.link.close().await;
    }
}

async fn mirror_loop(
    link: Arc<AmqpLink>,
    consumer: OrderedConsumer,
    mirror: Arc<Mirror>,
    shutdown: CancellationToken,
) {
    // Consuming before the stream exists would only fill the window with failing publishes.
    if !mirror::ensure_stream_until_ready(&mirror.jetstream, &mirror.stream, &shutdown).await {
        return;
    }
    amqp::consume_ordered(link, &consumer, shutdown, |delivery| {
        let mirror = mirror.clone();
        async move { mirror.handle(delivery).await }
    })
    .await;
    tracing::info!("mirroring stopped");
}
