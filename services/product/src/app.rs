//! Wiring: from a configuration to a listening service.

use std::sync::Arc;
use std::time::Duration;

use shop_auth_client::AuthClient;
use shop_config::ServiceInfo;
use shop_host::{HostParts, ServiceHost, Tasks};
use shop_http::service_auth::RequireServiceToken;
use shop_postgres::{self, PostgresCheck};
use shop_redis::{Redis, RedisCheck};
use shop_telemetry::metrics::Metrics;

use crate::cache::{Announcements, ListCache, LocalCopies, ProductCache, ProductCaches};
use crate::config::ProductServiceConfig;
use crate::metrics::ProductMetrics;
use crate::repository::ProductsRepository;
use crate::reservations::{ReservationLedger, SweepSchedule, Sweeper, run_sweeper};
use crate::state::AppState;

pub const INFO: ServiceInfo = shop_config::service_info!();

mod embedded {
    refinery::embed_migrations!("../../sql/product");
}

/// The migrations under `sql/product`, compiled into the binary.
pub fn migrations() -> refinery::Runner {
    embedded::migrations::runner()
}

/// A built service, bound to its port and ready to serve; tests reach its state through
/// [`ServiceHost::exposed`].
pub type Application = ServiceHost<Arc<AppState>>;

/// Connects, migrates and binds: everything but serving.
pub async fn build(config: ProductServiceConfig) -> anyhow::Result<Application> {
    let pool =
        shop_postgres::connect(&config.database, config.common.app_profile, &migrations()).await?;
    let metrics = Metrics::new();
    shop_postgres::register_pool_metrics(&metrics, &pool);
    let redis = Redis::new(&config.redis)?;
    redis.register_metrics(&metrics);
    let product_metrics = ProductMetrics::register(&metrics);

    // Every cache value names the database it came from: see `incarnation`.
    let incarnation = crate::cache::incarnation::read(&pool).await?;
    let key_prefix = config.cache.cache_key_prefix.clone();
    let fresh = Duration::from_millis(config.cache.product_cache_fresh_ms);
    let caches = Arc::new(ProductCaches {
        entries: ProductCache::new(
            redis.clone(),
            (key_prefix.clone(), incarnation.clone()),
            (
                Duration::from_secs(config.cache.product_cache_ttl_secs),
                fresh,
            ),
            product_metrics.clone(),
        ),
        local: LocalCopies::new(
            Duration::from_millis(config.cache.product_local_copy_ms),
            config.cache.product_local_copy_capacity,
        ),
        announcements: Announcements::new(
            redis.clone(),
            &key_prefix,
            Duration::from_millis(config.cache.product_local_copy_ms),
            product_metrics.clone(),
        ),
        pages: ListCache::new(
            redis.clone(),
            (&key_prefix, &incarnation),
            // Pages go stale with any write anywhere; a short life bounds their memory.
            (
                Duration::from_secs(config.cache.product_cache_ttl_secs.min(60)),
                fresh,
            ),
            product_metrics.clone(),
        ),
    });
    let state = Arc::new(AppState {
        products: ProductsRepository::new(pool.clone()),
        ledger: ReservationLedger::new(pool.clone()),
        caches,
        metrics: product_metrics,
    });
    let auth = AuthClient::new(&config.auth)?;
    let internal = RequireServiceToken::new(config.service_token.clone());

    let host = ServiceHost::bind(HostParts {
        info: INFO,
        api: crate::routes::router(state.clone(), auth, internal),
        checks: vec![
            Arc::new(PostgresCheck(pool.clone())),
            Arc::new(RedisCheck(redis)),
        ],
        metrics,
        common: &config.common,
        tasks: Tasks::new(),
    })
    .await?
    // Returns reservations no order confirmed to stock.
    .worker("reservation sweeper", {
        // The handlers' own ledger, caches and counters: one of each per process.
        let sweeper = Sweeper {
            ledger: state.ledger.clone(),
            caches: state.caches.clone(),
            metrics: state.metrics.clone(),
        };
        let schedule = SweepSchedule {
            ttl: Duration::from_secs(config.reservations.reservation_ttl_secs),
            interval: Duration::from_millis(config.reservations.reservation_sweep_interval_ms),
        };
        move |stop| run_sweeper(sweeper, schedule, stop)
    })
    // Drops this replica's local copies that other replicas' writes replaced, and hands their
    // answers to this replica's writes.
    .worker("product invalidations", {
        let caches = state.caches.clone();
        move |stop| async move { caches.follow_announcements(stop).await }
    })
    .on_close(async move { pool.close() });
    Ok(host.exposing(state))
}
