//! Wiring: from a configuration to a listening service with its outbox relay and release
//! worker.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Pool;
use lapin::ExchangeKind;
use lapin::options::ExchangeDeclareOptions;
use lapin::types::{FieldTable, ShortString};
use salvo::Service;
use salvo::conn::tcp::TcpAcceptor;
use service_runtime::ServiceInfo;
use service_runtime::amqp::{AmqpCheck, AmqpLink, Topology};
use service_runtime::auth::AuthClient;
use service_runtime::db::{self, PostgresCheck};
use service_runtime::health::Health;
use service_runtime::metrics::Metrics;
use service_runtime::server::{self, ServiceParts};
use tokio_util::sync::CancellationToken;

use crate::config::OrderServiceConfig;
use crate::metrics::OrderMetrics;
use crate::outbox::{OutboxCheck, OutboxRelay};
use crate::product_client::ProductClient;
use crate::releases::Releaser;
use crate::repository::OrdersRepository;
use crate::state::AppState;

pub const INFO: ServiceInfo = ServiceInfo {
    name: "order-service",
    version: env!("CARGO_PKG_VERSION"),
};

mod embedded {
    refinery::embed_migrations!("../../sql/order");
}

pub fn migrations() -> refinery::Runner {
    embedded::migrations::runner()
}

/// Declares the durable topic exchange events go to; queues belong to the consumers.
fn topology(exchange: String) -> Topology {
    Arc::new(move |channel| {
        let exchange = exchange.clone();
        Box::pin(async move {
            channel
                .exchange_declare(
                    ShortString::from(exchange.as_str()),
                    ExchangeKind::Topic,
                    ExchangeDeclareOptions {
                        durable: true,
                        ..ExchangeDeclareOptions::default()
                    },
                    FieldTable::default(),
                )
                .await
        })
    })
}

#[derive(Debug)]
pub struct Application {
    acceptor: TcpAcceptor,
    service: Service,
    health: Arc<Health>,
    pool: Pool,
    link: Arc<AmqpLink>,
    drain: Duration,
    relay: Arc<OutboxRelay>,
    releaser: Arc<Releaser>,
    state: Arc<AppState>,
}

impl Application {
    pub async fn build(config: OrderServiceConfig) -> anyhow::Result<Self> {
        let pool = db::connect(&config.database, &migrations()).await?;
        let metrics = Metrics::new();
        db::register_pool_metrics(&metrics, &pool);
        let order_metrics = OrderMetrics::register(&metrics);
        let settings = &config.orders;

        let link = AmqpLink::new(
            &config.amqp,
            "order-service",
            true,
            topology(settings.order_events_exchange.clone()),
        );
        // Not fatal: orders are accepted while RabbitMQ is down and their events wait.
        if let Err(error) = link.channel().await {
            tracing::warn!(error = %error, "RabbitMQ unreachable at start; events will wait in the outbox");
        }
        let orders = OrdersRepository::new(pool.clone());
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
        let relay = Arc::new(OutboxRelay::new(
            pool.clone(),
            link.clone(),
            settings.order_events_exchange.clone(),
            settings.outbox_batch_size,
            Duration::from_millis(settings.outbox_poll_interval_ms),
            config.database.database_url.expose().to_owned(),
            order_metrics.clone(),
        ));
        let state = Arc::new(AppState {
            orders,
            products,
            releaser: releaser.clone(),
            metrics: order_metrics,
        });

        let health = Health::new(
            INFO,
            vec![
                Arc::new(PostgresCheck(pool.clone())),
                Arc::new(AmqpCheck {
                    link: link.clone(),
                    required: false,
                }),
                Arc::new(OutboxCheck(relay.clone())),
            ],
        );
        let auth = AuthClient::new(&config.auth)?;
        let service = server::build_service(ServiceParts {
            info: INFO,
            api: crate::routes::router(state.clone(), auth),
            health: health.clone(),
            metrics,
            max_body_bytes: config.common.max_body_bytes,
        });
        let acceptor = server::bind(config.common.host, config.common.port).await?;
        Ok(Self {
            acceptor,
            service,
            health,
            pool,
            link,
            drain: Duration::from_secs(config.common.shutdown_timeout_secs),
            relay,
            releaser,
            state,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        server::local_addr(&self.acceptor)
    }

    pub fn state(&self) -> Arc<AppState> {
        self.state.clone()
    }

    /// The relay, for tests that drive it directly.
    pub fn relay(&self) -> Arc<OutboxRelay> {
        self.relay.clone()
    }

    /// Serves and runs the relay and release worker until `shutdown`; then drains requests,
    /// lets the relay finish its round and closes the connections.
    pub async fn run(self, shutdown: CancellationToken) {
        let workers = CancellationToken::new();
        let relay = tokio::spawn(self.relay.clone().run(workers.clone()));
        let releaser = tokio::spawn(self.releaser.clone().run(workers.clone()));
        server::serve(
            self.acceptor,
            self.service,
            self.health,
            shutdown,
            self.drain,
        )
        .await;
        workers.cancel();
        let _ = tokio::join!(relay, releaser);
        self.link.close().await;
        self.pool.close();
    }
}
