//! Wiring: from a configuration to a listening service.

use std::sync::Arc;
use std::time::Duration;

use shop_config::ServiceInfo;
use shop_host::{HostParts, ServiceHost, Tasks};
use shop_http::client_addr::ClientAddressing;
use shop_postgres::{self, PostgresCheck};
use shop_redis::{Redis, RedisCheck};
use shop_telemetry::metrics::Metrics;

use crate::config::UserServiceConfig;
use crate::limiter::AttemptLimiter;
use crate::metrics::UserMetrics;
use crate::password::PasswordHasher;
use crate::repository::UsersRepository;
use crate::state::{AppState, Limits};
use crate::tokens::TokenIssuer;

pub const INFO: ServiceInfo = shop_config::service_info!();

mod embedded {
    refinery::embed_migrations!("../../sql/user");
}

/// The migrations under `sql/user`, compiled into the binary.
pub fn migrations() -> refinery::Runner {
    embedded::migrations::runner()
}

/// A built service, bound to its port and ready to serve; tests reach its state through
/// [`ServiceHost::exposed`].
pub type Application = ServiceHost<Arc<AppState>>;

/// Connects, migrates and binds: everything but serving.
pub async fn build(config: UserServiceConfig) -> anyhow::Result<Application> {
    let pool =
        shop_postgres::connect(&config.database, config.common.app_profile, &migrations()).await?;
    let metrics = Metrics::new();
    shop_postgres::register_pool_metrics(&metrics, &pool);

    let auth = &config.auth;
    // Built without connecting: the service starts, and logins work, with Redis down.
    let redis = Redis::new(&config.redis)?;
    redis.register_metrics(&metrics);
    let hasher = PasswordHasher::new(
        auth.bcrypt_cost,
        auth.bcrypt_max_concurrency,
        auth.bcrypt_queue_capacity,
    )
    .await?;
    hasher.register_metrics(&metrics);
    let state = Arc::new(AppState {
        users: UsersRepository::new(pool.clone()),
        hasher,
        tokens: TokenIssuer::new(config.jwt_secret.expose().as_bytes(), auth.jwt_ttl_secs),
        login_attempts: AttemptLimiter::new(
            Duration::from_secs(auth.login_failure_window_secs),
            format!("{}login:", auth.throttle_key_prefix),
            Some(redis.clone()),
        ),
        registrations: AttemptLimiter::new(
            Duration::from_secs(auth.register_window_secs),
            format!("{}register:", auth.throttle_key_prefix),
            Some(redis.clone()),
        ),
        limits: Limits {
            login_per_user_and_client: auth.login_max_failures,
            login_per_client: auth.login_max_failures_per_client,
            register_per_client: auth.register_max_per_client,
        },
        clients: ClientAddressing::new(
            config.common.trusted_proxies.clone(),
            config.service_token.clone(),
        ),
        metrics: UserMetrics::register(&metrics),
    });
    if let (Some(username), Some(password)) = (
        auth.bootstrap_admin_username.as_deref(),
        auth.bootstrap_admin_password.as_ref(),
    ) {
        crate::bootstrap::ensure_admin(&state.users, &state.hasher, username, password.expose())
            .await?;
    }

    let host = ServiceHost::bind(HostParts {
        info: INFO,
        api: crate::routes::router(state.clone()),
        checks: vec![
            Arc::new(PostgresCheck(pool.clone())),
            Arc::new(RedisCheck(redis)),
        ],
        metrics,
        common: &config.common,
        tasks: Tasks::new(),
    })
    .await?
    .on_close(async move { pool.close() });
    Ok(host.exposing(state))
}
