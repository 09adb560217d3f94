//! Wiring: from a configuration to a consuming, serving service.

use std::sync::Arc;
use std::time::Duration;

use salvo::Router;
use shop_amqp::{self, AmqpCheck, AmqpLink, ConsumerOptions};
use shop_config::ServiceInfo;
use shop_host::{HostParts, ServiceHost, Tasks};
use shop_redis::Redis;
use shop_telemetry::metrics::Metrics;

use crate::channels::Channel;
use crate::config::NotificationConfig;
use crate::dedup::Dedup;
use crate::handler::Handler;
use crate::metrics::NotificationMetrics;
use crate::shared_dedup::SharedDedup;
use crate::topology;

pub const INFO: ServiceInfo = shop_config::service_info!();

/// A built service, bound to its port, its queues declared if the broker answered; tests
/// read its metrics through [`ServiceHost::exposed`].
pub type Application = ServiceHost<Arc<Metrics>>;

/// Declares the queues (if the broker answers) and binds. On shutdown the subscription is
/// cancelled at once, the deliveries in hand finish (or, past the drain deadline, return to
/// the queue) while the HTTP server drains, and then the connection closes.
pub async fn build(config: NotificationConfig) -> anyhow::Result<Application> {
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
    let handler = Arc::new(Handler {
        link: link.clone(),
        names: config.consumer.names.clone(),
        retry: config.consumer.retry,
        channels: Channel::open_all(
            &config.channels,
            config.email.as_ref(),
            config.webhook.as_ref(),
        )?,
        dedup: Dedup::new(config.consumer.dedup_window, config.consumer.dedup_capacity),
        shared_dedup: match &config.shared_dedup {
            Some(shared) => Some(SharedDedup::new(
                Redis::new(&shared.redis)?,
                &shared.key_prefix,
                shared.lease,
                config.consumer.dedup_window,
            )),
            None => None,
        },
        metrics: NotificationMetrics::register(&metrics, &config.channels),
    });
    let consumer = ConsumerOptions {
        queue: config.consumer.names.queue.clone(),
        consumer_tag,
        concurrency: usize::from(config.consumer.prefetch),
        drain: Duration::from_secs(config.common.shutdown_timeout_secs),
    };
    tracing::info!(
        queue = %config.consumer.names.queue,
        exchange = %config.consumer.names.exchange,
        channels = ?config.channels.iter().map(|kind| kind.name()).collect::<Vec<_>>(),
        "notification service configured"
    );
    let host = ServiceHost::bind(HostParts {
        info: INFO,
        api: Router::new(),
        checks: vec![Arc::new(AmqpCheck {
            link: link.clone(),
            required: true,
        })],
        metrics: metrics.clone(),
        common: &config.common,
        tasks: Tasks::new(),
    })
    .await?
    .intake("order event consumer", {
        let link = link.clone();
        move |stop| {
            shop_amqp::consume_concurrently(link, consumer, stop, move |delivery| {
                handler.clone().handle(delivery)
            })
        }
    })
    .on_close(async move { link.close().await });
    Ok(host.exposing(metrics))
}
