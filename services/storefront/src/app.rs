//! Wiring: from a configuration to a running storefront. Kept thin on purpose: the runtime's
//! server does the serving, draining and common routes; this file only hands it the pages,
//! the health checks and the live-updates worker.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_nats::Client;
use salvo::Service;
use salvo::catcher::Catcher;
use salvo::conn::tcp::TcpAcceptor;
use service_runtime::ServiceInfo;
use service_runtime::auth::AuthClient;
use service_runtime::health::{DependencyCheck, Health};
use service_runtime::metrics::Metrics;
use service_runtime::nats::{self, NatsCheck};
use service_runtime::server::{self, ServiceParts};
use tokio_util::sync::CancellationToken;

use crate::api::Api;
use crate::config::StorefrontConfig;
use crate::live::{self, Hub, Source};
use crate::routes::{self, Shop};
use crate::session::Sessions;
use crate::views::errors;

pub const INFO: ServiceInfo = ServiceInfo {
    name: "storefront",
    version: env!("CARGO_PKG_VERSION"),
};

/// Health check of the live updates: optional, the shop works without them.
struct LiveCheck(Arc<Hub>);

#[salvo::async_trait]
impl DependencyCheck for LiveCheck {
    fn name(&self) -> &'static str {
        "live_updates"
    }

    fn required(&self) -> bool {
        false
    }

    async fn check(&self) -> Result<(), String> {
        if self.0.is_live() {
            Ok(())
        } else {
            Err("not consuming the order events".into())
        }
    }
}

/// A built storefront: HTTP bound to its port, NATS connecting in the background.
#[derive(Debug)]
pub struct Application {
    acceptor: TcpAcceptor,
    service: Service,
    health: Arc<Health>,
    drain: Duration,
    nats: Client,
    nats_timeout: Duration,
    source: Source,
    hub: Arc<Hub>,
    shutdown: CancellationToken,
}

impl Application {
    /// Never waits for NATS or the APIs: pages say what is missing meanwhile.
    pub async fn build(config: StorefrontConfig) -> anyhow::Result<Self> {
        let settings = &config.storefront;
        let api = Api::new(
            &config.auth.user_service_url,
            &settings.product_service_url,
            &settings.order_service_url,
            settings.api_timeout(),
        )?;
        let sessions = Arc::new(Sessions {
            auth: AuthClient::new(&config.auth)?,
            csrf_secret: config.csrf_secret.clone(),
            secure: settings.storefront_secure_cookies,
        });
        let client = nats::connect(&config.nats, INFO.name).await?;
        let hub = Hub::new(settings.storefront_replay_capacity);
        let shutdown = CancellationToken::new();
        let shop = Arc::new(Shop {
            api,
            sessions,
            hub: hub.clone(),
            page_size: settings.storefront_page_size,
            shutdown: shutdown.clone(),
        });
        let health = Health::new(
            INFO,
            vec![
                Arc::new(NatsCheck {
                    client: client.clone(),
                    required: false,
                }),
                Arc::new(LiveCheck(hub.clone())),
            ],
        );
        let service = server::build_service(ServiceParts {
            info: INFO,
            api: routes::router(shop),
            health: health.clone(),
            metrics: Metrics::new(),
            max_body_bytes: config.common.max_body_bytes,
        })
        .catcher(Catcher::new(errors::catcher));
        let acceptor = server::bind(config.common.host, config.common.port).await?;
        Ok(Self {
            acceptor,
            service,
            health,
            drain: Duration::from_secs(config.common.shutdown_timeout_secs),
            nats: client,
            nats_timeout: config.nats.timeout(),
            source: Source {
                stream: settings.storefront_stream.clone(),
                subject_prefix: settings.storefront_subject_prefix.clone(),
                consumer: settings.consumer_name(),
            },
            hub,
            shutdown,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        server::local_addr(&self.acceptor)
    }

    /// The hub the pages' live updates come from (tests look at its state).
    pub fn hub(&self) -> Arc<Hub> {
        self.hub.clone()
    }

    /// Serves until `shutdown`; then ends the live streams, drains requests, stops consuming
    /// and closes NATS.
    pub async fn run(self, shutdown: CancellationToken) {
        let stop = self.shutdown.clone();
        let trigger = shutdown.clone();
        tokio::spawn(async move {
            trigger.cancelled().await;
            stop.cancel();
        });
        let jetstream = nats::jetstream(self.nats.clone(), self.nats_timeout);
        let worker = tokio::spawn(live::run(
            jetstream,
            self.source,
            self.hub,
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
            tracing::error!(error = %error, "the live-updates task failed");
        }
        nats::close(&self.nats, self.nats_timeout).await;
    }
}
