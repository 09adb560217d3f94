//! Wiring: from a configuration to a listening service.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Pool;
use salvo::Service;
use salvo::conn::tcp::TcpAcceptor;
use service_runtime::ServiceInfo;
use service_runtime::db::{self, PostgresCheck};
use service_runtime::health::Health;
use service_runtime::metrics::Metrics;
use service_runtime::redis::{Redis, RedisCheck};
use service_runtime::server::{self, ServiceParts};
use tokio_util::sync::CancellationToken;

use crate::config::UserServiceConfig;
use crate::limiter::AttemptLimiter;
use crate::metrics::UserMetrics;
use crate::password::PasswordHasher;
use crate::repository::UsersRepository;
use crate::state::AppState;
use crate::tokens::TokenIssuer;

pub const INFO: ServiceInfo = ServiceInfo {
    name: "user-service",
    version: env!("CARGO_PKG_VERSION"),
};

mod embedded {
    refinery::embed_migrations!("../../sql/user");
}

/// The migrations under `sql/user`, compiled into the binary.
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
    pub async fn build(config: UserServiceConfig) -> anyhow::Result<Self> {
        let pool = db::connect(&config.database, &migrations()).await?;
        let metrics = Metrics::new();
        db::register_pool_metrics(&metrics, &pool);

        let auth = &config.auth;
        // Built without connecting: the service starts, and logins work, with Redis down.
        let redis = Redis::new(&config.redis)?;
        redis.register_metrics(&metrics);
        let state = Arc::new(AppState {
            users: UsersRepository::new(pool.clone()),
            hasher: PasswordHasher::new(
                auth.bcrypt_cost,
                auth.bcrypt_max_concurrency,
                auth.bcrypt_queue_capacity,
            )
            .await?,
            tokens: TokenIssuer::new(config.jwt_secret.expose().as_bytes(), auth.jwt_ttl_secs),
            login_attempts: AttemptLimiter::new(
                auth.login_max_failures,
                Duration::from_secs(auth.login_failure_window_secs),
                format!("{}login:", auth.throttle_key_prefix),
                Some(redis.clone()),
            ),
            registrations: AttemptLimiter::new(
                auth.register_max_per_client,
                Duration::from_secs(auth.register_window_secs),
                format!("{}register:", auth.throttle_key_prefix),
                Some(redis.clone()),
            ),
            metrics: UserMetrics::register(&metrics),
        });
        if let (Some(username), Some(password)) = (
            auth.bootstrap_admin_username.as_deref(),
            auth.bootstrap_admin_password.as_ref(),
        ) {
            crate::bootstrap::ensure_admin(
                &state.users,
                &state.hasher,
                username,
                password.expose(),
            )
            .await?;
        }

        let health = Health::new(
            INFO,
            vec![
                Arc::new(PostgresCheck(pool.clone())),
                Arc::new(RedisCheck(redis)),
            ],
        );
        let service = server::build_service(ServiceParts {
            info: INFO,
            api: crate::routes::router(state.clone()),
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

    /// Shared state, for tests that arrange data directly (e.g. deactivate a user).
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
