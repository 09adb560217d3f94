//! Wiring: from a configuration to a running bridge with its HTTP surface.

use std::sync::Arc;
use std::time::Duration;

use shop_amqp::{self, AmqpCheck, AmqpLink, OrderedConsumer};
use shop_config::ServiceInfo;
use shop_host::{HostParts, ServiceHost, Tasks};
use shop_nats::{self, NatsCheck, StreamCheck};
use shop_telemetry::DependencyCheck;
use shop_telemetry::metrics::Metrics;
use tokio_util::sync::CancellationToken;

use crate::config::BridgeConfig;
use crate::message;
use crate::metrics::BridgeMetrics;
use crate::mirror::{self, Mirror};
use crate::routes::{self, StreamRouteState};
use crate::topology;

pub const INFO: ServiceInfo = shop_config::service_info!();

/// A built bridge: HTTP bound to its port, brokers connecting in the background.
pub type Application = ServiceHost;

/// Never waits for a broker: both connect (and reconnect) on their own, and `/health` shows
/// which one is missing meanwhile. On shutdown the bridge stops consuming, lets the deliveries
/// in hand finish (their PubAcks awaited, their acks sent) within the drain deadline, flushes
/// and closes NATS, and closes RabbitMQ (which requeues whatever stayed unacked).
pub async fn build(config: BridgeConfig) -> anyhow::Result<Application> {
    let settings = &config.bridge;
    let metrics = Metrics::new();
    let bridge_metrics = BridgeMetrics::register(&metrics);
    let link = AmqpLink::new(&config.amqp, INFO.name, false, topology::topology(settings));
    let client = shop_nats::connect(&config.nats, INFO.name).await?;
    let jetstream = shop_nats::jetstream(client.clone(), config.nats.timeout());
    let stream = settings.stream_config();

    let checks: Vec<Arc<dyn DependencyCheck>> = vec![
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
    ];
    let api = routes::router(Arc::new(StreamRouteState {
        jetstream: jetstream.clone(),
        settings: settings.clone(),
    }));
    let consumer = OrderedConsumer {
        queue: settings.bridge_queue.clone(),
        consumer_tag: format!("{}-{}", INFO.name, std::process::id()),
        max_in_flight: usize::from(settings.bridge_max_in_flight),
        drain: Duration::from_secs(config.common.shutdown_timeout_secs),
        in_flight: bridge_metrics.in_flight.clone(),
        lane: Some(message::lane),
    };
    let tasks = Tasks::new();
    // The handlers stop retrying a publish once shutdown begins.
    let mirror = Arc::new(Mirror {
        jetstream,
        stream,
        subject_prefix: settings.bridge_subject_prefix.clone(),
        queue: settings.bridge_queue.clone(),
        metrics: bridge_metrics,
        shutdown: tasks.draining(),
    });
    let nats_timeout = config.nats.timeout();
    let host = ServiceHost::bind(HostParts {
        info: INFO,
        api,
        checks,
        metrics,
        common: &config.common,
        tasks,
    })
    .await?
    .intake("mirror", {
        let link = link.clone();
        move |stop| mirror_loop(link, consumer, mirror, stop)
    })
    .on_close(async move {
        shop_nats::close(&client, nats_timeout).await;
        link.close().await;
    });
    Ok(host)
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
    shop_amqp::consume_ordered(link, &consumer, shutdown, |delivery| {
        let mirror = mirror.clone();
        async move { mirror.handle(delivery).await }
    })
    .await;
    tracing::info!("mirroring stopped");
}
