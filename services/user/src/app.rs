//! Wiring: from a configuration to a listening service.

use std::sync::Arc;
use std::time::Duration;

use service_runtime::ServiceInfo;
use service_runtime::db::{self, PostgresCheck};
use service_runtime::host::{HostParts, ServiceHost, Tasks};
use service_runtime::metrics::Metrics;

use crate::config::UserServiceConfig;
use crate::domain::{Password, Username};
use crate::metrics::UserMetrics;
use crate::password::PasswordHasher;
use crate::repository::UsersRepository;
use crate::state::AppState;
use crate::throttle::LoginThrottle;
use crate::tokens::TokenIssuer;

pub const INFO: ServiceInfo = service_runtime::service_info!();

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

    let host = ServiceHost::bind(HostParts {
        info: INFO,
        api: crate::routes::router(state.clone()),
        checks: vec![Arc::new(PostgresCheck(pool.clone()))],
        metrics,
        common: &config.common,
        tasks: Tasks::new(),
    })
    .await?
    .on_close(async move { pool.close() });
    Ok(host.exposing(state))
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
