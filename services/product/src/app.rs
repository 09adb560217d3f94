//! Wiring: from a configuration to a listening service.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Pool;
use salvo::Service;
use salvo::conn::tcp::TcpAcceptor;
use service_runtime::ServiceInfo;
use service_runtime::auth::AuthClient;
use service_runtime::db::{self, PostgresCheck};
use service_runtime::health::Health;
use service_runtime::metrics::Metrics;
use service_runtime::redis::{Redis, RedisCheck};
use service_runtime::server::{self, ServiceParts};
use service_runtime::service_auth::RequireServiceToken;
use tokio_util::sync::CancellationToken;

use crate::cache::ProductCache;
use crate::config::ProductServiceConfig;
use crate::list_cache::ListCache;
use crate::metrics::ProductMetrics;
use crate::repository::ProductsRepository;
use crate::state::AppState;

pub const INFO: ServiceInfo = ServiceInfo {
    name: "product-service",
    version: env!("CARGO_PKG_VERSION"),
};

mod embedded {
    refinery::embed_migrations!("../../sql/product");
}

/// The migrations under `sql/product`, compiled into the binary.
pub fn migrations() -> refinery::Runner {
    embedded::migrations::runner()
}

/// A built service, bound to its port and ready to serve.
#[derive(Debug)]
pub struct Application {
    acceptor: TcpAcceptor,
    service: Service,
    health: Arc<Health>,
    pool: Pool,
    drain: Duration,
    state: Arc<AppState>,
}

impl Application {
    pub async fn build(config: ProductServiceConfig) -> anyhow::Result<Self> {
        let pool = db::connect(&config.database, &migrations()).await?;
        let metrics = Metrics::new();
        db::register_pool_metrics(&metrics, &pool);
        let redis = Redis::new(&config.redis)?;
        redis.register_metrics(&metrics);
        let product_metrics = ProductMetrics::register(&metrics);

        let state = Arc::new(AppState {
            products: ProductsRepository::new(pool.clone()),
            cache: ProductCache::new(
                redis.clone(),
                config.cache.cache_key_prefix.clone(),
                Duration::from_secs(config.cache.product_cache_ttl_secs),
                product_metrics.clone(),
            ),
            pages: ListCache::new(
                redis.clone(),
                &config.cache.cache_key_prefix,
                // Pages go stale with any write anywhere; a short life bounds their memory.
                Duration::from_secs(config.cache.product_cache_ttl_secs.min(60)),
                product_metrics.clone(),
            ),
            metrics: product_metrics,
        });
        let auth = AuthClient::new(&config.auth)?;
        let internal = RequireServiceToken::new(config.service_token.clone());

        let health = Health::new(
            INFO,
            vec![
                Arc::new(PostgresCheck(pool.clone())),
                Arc::new(RedisCheck(redis)),
            ],
        );
        let service = server::build_service(ServiceParts {
            info: INFO,
            api: crate::routes::router(state.clone(), auth, internal),
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
            drain: Duration::from_secs(config.common.shutdown_timeout_secs),
            state,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        server::local_addr(&self.acceptor)
    }

    /// Shared state, for tests that look behind the API (the cache, say).
    pub fn state(&self) -> Arc<AppState> {
        self.state.clone()
    }

    /// Serves until `shutdown` fires and in-flight requests have drained, then closes the pool.
    pub async fn run(self, shutdown: CancellationToken) {
        server::serve(
            self.acceptor,
            self.service,
            self.health,
            shutdown,
            self.drain,
        )
        .await;
        self.pool.close();
    }
}
