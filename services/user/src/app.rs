//! Wiring: from a configuration to a listening service.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use salvo::Service;
use salvo::conn::tcp::TcpAcceptor;
use service_runtime::ServiceInfo;
use service_runtime::db::deadpool_postgres::Pool;
use service_runtime::db::{self, PostgresCheck};
use service_runtime::health::Health;
use service_runtime::metrics::Metrics;
use service_runtime::server::{self, ServiceParts};
use tokio_util::sync::CancellationToken;

use crate::config::UserServiceConfig;
use crate::domain::{Password, Username};
use crate::metrics::UserMetrics;
use crate::password::PasswordHasher;
use crate::repository::UsersRepository;
use crate::state::AppState;
use crate::throttle::LoginThrottle;
use crate::tokens::TokenIssuer;

pub const INFO: ServiceInfo = ServiceInfo {
    name: "user-service",
    version: env!("CARGO_PKG_VERSION"),
    description: env!("CARGO_PKG_DESCRIPTION"),
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
        let state = Arc::new(AppState {
            users: UsersRepository::new(pool.clone()),
            hasher: PasswordHasher::new(auth.bcrypt_cost, auth.bcrypt_max_concurrency).await?,
            tokens: TokenIssuer::new(config.jwt_secret.expose().as_bytes(), auth.jwt_ttl_secs),
            throttle: LoginThrottle::new(
                auth.login_max_failures,
                Duration::from_secs(auth.login_failure_window_secs),
            ),
            metrics: UserMetrics::register(&metrics),
        });
        if let (Some(username), Some(password)) = (
            auth.bootstrap_admin_username.as_deref(),
            auth.bootstrap_admin_password.as_ref(),
        ) {
            ensure_admin(&state, username, password.expose()).await?;
        }

        let health = Health::new(INFO, vec![Arc::new(PostgresCheck(pool.clone()))]);
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

/// Creates the bootstrap admin, or promotes the existing account of that name.
async fn ensure_admin(state: &AppState, username: &str, password: &str) -> anyhow::Result<()> {
    let username = Username::parse(username)
        .map_err(|error| anyhow::anyhow!("BOOTSTRAP_ADMIN_USERNAME {}", error.message))?;
    let password = Password::parse(password)
        .map_err(|error| anyhow::anyhow!("BOOTSTRAP_ADMIN_PASSWORD {}", error.message))?;
    let hash = state.hasher.hash(&password).await?;
    let admin = state.users.ensure_admin(&username, &hash).await?;
    tracing::info!(user_id = admin.id, username = %admin.username, "bootstrap admin ensured");
    Ok(())
}
