//! Wiring: from a configuration to a listening service with its outbox relay and release
//! worker.

use std::sync::Arc;
use std::time::Duration;

use order_outbox::{OutboxCheck, OutboxMetrics, OutboxRelay};
use shop_amqp::{self, AmqpCheck, AmqpLink};
use shop_auth_client::AuthClient;
use shop_config::ServiceInfo;
use shop_host::{HostParts, ServiceHost, Tasks};
use shop_postgres::{self, PostgresCheck};
use shop_telemetry::DependencyCheck;
use shop_telemetry::metrics::Metrics;

use crate::config::{OrderServiceConfig, OrderSettings};
use crate::housekeeping::{Housekeeper, Retention};
use crate::metrics::OrderMetrics;
use crate::product_client::ProductClient;
use crate::releases::Releaser;
use crate::repository::OrdersRepository;
use crate::state::AppState;
use crate::write_rate::WriteRate;

pub const INFO: ServiceInfo = shop_config::service_info!();

mod embedded {
    refinery::embed_migrations!("../../sql/order");
}

pub fn migrations() -> refinery::Runner {
    embedded::migrations::runner()
}

/// What tests reach behind the API: the state, and the relay to drive it directly.
#[derive(Debug, Clone)]
pub struct Exposed {
    pub state: Arc<AppState>,
    pub relay: Arc<OutboxRelay>,
}

/// A built service, bound to its port, its relay and release worker ready to run.
pub type Application = ServiceHost<Exposed>;

/// Connects, migrates and binds: everything but serving. The relay and release worker stop
/// after the last request has drained, so the events of those requests still go out.
pub async fn build(config: OrderServiceConfig) -> anyhow::Result<Application> {
    let pool =
        shop_postgres::connect(&config.database, config.common.app_profile, &migrations()).await?;
    let metrics = Metrics::new();
    shop_postgres::register_pool_metrics(&metrics, &pool);
    let order_metrics = OrderMetrics::register(&metrics);
    let outbox_metrics = OutboxMetrics::register(&metrics);
    let settings = &config.orders;

    let link = event_link(&config).await;
    let orders = OrdersRepository::new(pool.clone())
        .with_pending_cap(settings.max_pending_orders_per_customer)
        .with_stale_claim_secs(settings.idempotency_stale_claim_secs);
    let products = ProductClient::new(
        &settings.product_service_url,
        config.service_token.clone(),
        Duration::from_millis(settings.product_timeout_ms),
    )?;
    let releaser = Arc::new(Releaser::new(
        orders.clone(),
        products.clone(),
        order_metrics.clone(),
        Duration::from_millis(settings.release_retry_interval_ms),
    ));
    let write_rate = WriteRate::new(
        pool.clone(),
        settings.order_writes_per_user,
        Duration::from_secs(settings.order_write_window_secs),
    );
    let housekeeper = Arc::new(Housekeeper::new(
        pool.clone(),
        orders.clone(),
        releaser.clone(),
        write_rate.clone(),
        retention(settings),
    ));
    let relay = Arc::new(OutboxRelay::new(
        pool.clone(),
        link.clone(),
        settings.order_events_exchange.clone(),
        settings.outbox_batch_size,
        Duration::from_millis(settings.outbox_poll_interval_ms),
        config.database.clone(),
        outbox_metrics,
    ));
    let tasks = Tasks::new();
    let state = Arc::new(AppState {
        orders,
        products,
        releaser: releaser.clone(),
        metrics: order_metrics,
        write_rate,
        tasks: tasks.clone(),
    });

    let checks: Vec<Arc<dyn DependencyCheck>> = vec![
        Arc::new(PostgresCheck(pool.clone())),
        Arc::new(AmqpCheck {
            link: link.clone(),
            required: false,
        }),
        Arc::new(OutboxCheck(relay.clone())),
    ];
    let host = ServiceHost::bind(HostParts {
        info: INFO,
        api: crate::routes::router(state.clone(), AuthClient::new(&config.auth)?),
        checks,
        metrics,
        common: &config.common,
        tasks,
    })
    .await?
    .worker("outbox relay", {
        let relay = relay.clone();
        move |stop| relay.run(stop)
    })
    // The release worker also waits, when stopping, for the releases of orders that were never
    // stored, which handlers start in the background.
    .worker("stock release retries", move |stop| releaser.run(stop))
    // Pending-order expiry and retention purging.
    .worker("housekeeping", move |stop| housekeeper.run(stop))
    .on_close(async move {
        link.close().await;
        pool.close();
    });
    Ok(host.exposing(Exposed { state, relay }))
}

/// The link the outbox relay publishes order events through.
async fn event_link(config: &OrderServiceConfig) -> Arc<AmqpLink> {
    let link = AmqpLink::new(
        &config.amqp,
        "order-service",
        true,
        // Only the exchange: the queues belong to the consumers.
        shop_amqp::durable_topic_exchange(config.orders.order_events_exchange.clone()),
    );
    // Not fatal: orders are accepted while RabbitMQ is down and their events wait.
    if let Err(error) = link.channel().await {
        tracing::warn!(error = %error, "RabbitMQ unreachable at start; events will wait in the outbox");
    }
    link
}

/// How long housekeeping keeps what, and how often it looks.
fn retention(settings: &OrderSettings) -> Retention {
    Retention {
        pending_order_ttl: Duration::from_secs(settings.pending_order_ttl_secs),
        outbox: Duration::from_secs(settings.outbox_retention_secs),
        idempotency_keys: Duration::from_secs(settings.idempotency_key_retention_secs),
        interval: Duration::from_millis(settings.housekeeping_interval_ms),
    }
}
