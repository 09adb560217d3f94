//! Start-up: the database created if missing, the migrations applied, the pool built.
//!
//! Two roles may share the work. `DATABASE_MIGRATION_URL`, when set, is the schema owner: the
//! database is created and migrated over it. `DATABASE_URL` is then a role that may only read
//! and write rows (`sql/roles.sql`), and the pool uses it. Without a migration URL, one role
//! does both, as before.

use std::pin::Pin;
use std::time::Duration;

use anyhow::Context as _;
use deadpool_postgres::{
    ClientWrapper, Hook, HookError, Manager, ManagerConfig, Metrics, Pool, RecyclingMethod, Runtime,
};
use futures_util::Stream;
use tokio_postgres::AsyncMessage;
use tokio_postgres::config::Host;
use tokio_postgres::error::SqlState;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::DatabaseConfig;
use super::tls::{self, SslMode};
use shop_config::{ConfigError, Profile};

/// Where one setting's URL leads, and how to get there.
#[derive(Clone)]
struct Endpoint {
    /// The setting, named in every error.
    key: &'static str,
    config: tokio_postgres::Config,
    mode: SslMode,
    tls: MakeRustlsConnect,
}

impl Endpoint {
    fn read(key: &'static str, url: &str, settings: &DatabaseConfig) -> Result<Self, ConfigError> {
        let read = tls::read_url(key, url)?;
        let ca_file = read
            .root_cert
            .as_deref()
            .or(settings.database_ca_file.as_deref());
        let tls = tls::connector(key, read.mode, ca_file)?;
        let mut config = read.config;
        config.connect_timeout(Duration::from_millis(settings.db_timeout_ms));
        if config.get_application_name().is_none() {
            config.application_name(env!("CARGO_PKG_NAME"));
        }
        Ok(Self {
            key,
            config,
            mode: read.mode,
            tls,
        })
    }

    /// One connection, its driver task spawned; the error says which setting and where.
    async fn connect(
        &self,
        config: &tokio_postgres::Config,
    ) -> anyhow::Result<(tokio_postgres::Client, tokio::task::JoinHandle<()>)> {
        let (client, connection) = config.connect(self.tls.clone()).await.with_context(|| {
            format!("{}: cannot connect to {}", self.key, self.describe(config))
        })?;
        let task = tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok((client, task))
    }

    /// Host, port and database of `config`, never the password.
    fn describe(&self, config: &tokio_postgres::Config) -> String {
        let host = match config.get_hosts().first() {
            Some(Host::Tcp(host)) => host.clone(),
            Some(Host::Unix(path)) => path.display().to_string(),
            None => "localhost".to_owned(),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let database = config.get_dbname().unwrap_or_default();
        format!(
            "PostgreSQL at {host}:{port}/{database} (sslmode={})",
            self.mode.name()
        )
    }

    /// Plain text over a network: worth a warning in production. Loopback and Unix sockets are
    /// left alone, since a sidecar (a cloud SQL proxy, a service mesh) may encrypt beyond them.
    fn plain_text_over_network(&self) -> bool {
        !self.mode.encrypts()
            && self.config.get_hosts().iter().any(|host| match host {
                Host::Tcp(name) => {
                    name != "localhost"
                        && !name
                            .parse::<std::net::IpAddr>()
                            .is_ok_and(|address| address.is_loopback())
                }
                Host::Unix(_) => false,
            })
    }
}

/// The messages of a connection opened by [`connect_unpooled`] (notifications among them).
/// Polling this stream is what drives the connection: it ends when the connection does.
pub type ConnectionMessages =
    Pin<Box<dyn Stream<Item = Result<AsyncMessage, tokio_postgres::Error>> + Send>>;

/// One connection outside the pool, as the pool's role (`DATABASE_URL`) and over the same TLS:
/// for a session that must stay open, such as a `LISTEN`.
pub async fn connect_unpooled(
    config: &DatabaseConfig,
) -> anyhow::Result<(tokio_postgres::Client, ConnectionMessages)> {
    let app = Endpoint::read("DATABASE_URL", config.database_url.expose(), config)?;
    let (client, mut connection) =
        app.config.connect(app.tls.clone()).await.with_context(|| {
            format!(
                "{}: cannot connect to {}",
                app.key,
                app.describe(&app.config)
            )
        })?;
    let messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
    Ok((client, Box::pin(messages)))
}

/// Creates the database if needed, runs `migrations` and returns the pool.
pub async fn connect(
    config: &DatabaseConfig,
    profile: Profile,
    migrations: &refinery::Runner,
) -> anyhow::Result<Pool> {
    let app = Endpoint::read("DATABASE_URL", config.database_url.expose(), config)?;
    let owner = match &config.database_migration_url {
        Some(url) => Endpoint::read("DATABASE_MIGRATION_URL", url.expose(), config)?,
        None => app.clone(),
    };
    if profile == Profile::Production {
        for endpoint in [&app, &owner] {
            if endpoint.plain_text_over_network() {
                tracing::warn!(
                    setting = endpoint.key,
                    "the database connection is not encrypted: add sslmode=verify-full (or \
                     require) to the URL unless a sidecar or a private link protects it"
                );
            }
        }
    }
    if config.db_create_database {
        create_database_if_missing(&owner).await?;
    }
    migrate(&owner, migrations)
        .await
        .with_context(|| migration_failure(config))?;

    let timeout = Duration::from_millis(config.db_timeout_ms);
    let manager = Manager::from_config(
        app.config,
        app.tls,
        ManagerConfig {
            // Closed connections are dropped at checkout; the hook in `pool` checks idle ones.
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Ok(pool(
        manager,
        config.db_pool_max_size,
        timeout,
        VERIFY_AFTER_IDLE,
    )?)
}

/// How long after a connection was last handed out the pool asks the server, before handing it
/// out again, whether it is still there. A connection the server or the network closed is
/// known closed at once (`is_closed`); the round trip is for one that died silently, which
/// takes an idle period to happen (an idle timeout on the way, a host gone). A connection
/// handed out within this span goes straight to its request: with the check on every checkout,
/// a reservation spent more round trips on checks than on its own statements.
const VERIFY_AFTER_IDLE: Duration = Duration::from_secs(1);

/// The pool over `manager`: `timeout` bounds the wait for a connection, making one, and the
/// check of one last handed out `verify_after_idle` ago or longer (an empty query; a
/// connection that fails it, or does not answer in time, is dropped and the next one tried).
fn pool(
    manager: Manager,
    max_size: usize,
    timeout: Duration,
    verify_after_idle: Duration,
) -> Result<Pool, deadpool_postgres::BuildError> {
    let verify_idle = Hook::async_fn(move |client: &mut ClientWrapper, metrics: &Metrics| {
        Box::pin(async move {
            if metrics.last_used() < verify_after_idle {
                return Ok(());
            }
            match tokio::time::timeout(timeout, client.simple_query("")).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(error)) => {
                    tracing::warn!(%error, "an idle database connection failed its check");
                    Err(HookError::Backend(error))
                }
                Err(_) => {
                    tracing::warn!("an idle database connection did not answer its check");
                    Err(HookError::message("no answer to the idle check"))
                }
            }
        })
    });
    Pool::builder(manager)
        .max_size(max_size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(timeout))
        .create_timeout(Some(timeout))
        .recycle_timeout(Some(timeout))
        .pre_recycle(verify_idle)
        .build()
}

fn migration_failure(config: &DatabaseConfig) -> String {
    if config.database_migration_url.is_some() {
        "running the migrations over DATABASE_MIGRATION_URL failed".to_owned()
    } else {
        "running the migrations over DATABASE_URL failed (if that role may only read and write \
         rows, set DATABASE_MIGRATION_URL to the schema owner's URL)"
            .to_owned()
    }
}

async fn create_database_if_missing(endpoint: &Endpoint) -> anyhow::Result<()> {
    let name = endpoint
        .config
        .get_dbname()
        .ok_or_else(|| ConfigError::new(endpoint.key, "names no database"))?
        .to_owned();
    let mut admin = endpoint.config.clone();
    admin.dbname("postgres");
    let (client, task) = endpoint.connect(&admin).await?;
    let exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await?
        .is_some();
    if !exists {
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        match client
            .batch_execute(&format!("CREATE DATABASE {quoted}"))
            .await
        {
            Ok(()) => tracing::info!(database = %name, "created database"),
            // Another replica created it first.
            Err(error) if error.code() == Some(&SqlState::DUPLICATE_DATABASE) => {}
            Err(error) if error.code() == Some(&SqlState::UNIQUE_VIOLATION) => {}
            Err(error) => {
                return Err(anyhow::Error::new(error)
                    .context(format!("{}: cannot create database {name}", endpoint.key)));
            }
        }
    }
    drop(client);
    let _ = task.await;
    Ok(())
}

/// Advisory lock id held while migrating; the lock is per database. Public so a test can hold
/// it and watch replicas wait for it.
pub const MIGRATION_LOCK: i64 = 0x5348_4f50_4d49_4752; // "SHOPMIGR"

async fn migrate(endpoint: &Endpoint, migrations: &refinery::Runner) -> anyhow::Result<()> {
    let (mut client, task) = endpoint.connect(&endpoint.config).await?;
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    let outcome = migrations.run_async(&mut client).await;
    // Unlock even when a migration failed; closing the connection would release it too.
    let _ = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await;
    let report = outcome?;
    for migration in report.applied_migrations() {
        tracing::info!(migration = %migration, "applied migration");
    }
    drop(client);
    let _ = task.await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(url: &str) -> Endpoint {
        Endpoint::read("DATABASE_URL", url, &DatabaseConfig::default()).unwrap()
    }

    #[test]
    fn plain_text_is_flagged_only_over_a_network() {
        assert!(endpoint("postgres://u@db.internal/users").plain_text_over_network());
        assert!(endpoint("postgres://u@10.0.0.5/users?sslmode=prefer").plain_text_over_network());
        for local_or_encrypted in [
            "postgres://u@127.0.0.1/users",
            "postgres://u@localhost/users?sslmode=disable",
            "postgres://u@[::1]/users",
            "host=/var/run/postgresql dbname=users",
            "postgres://u@db.internal/users?sslmode=require",
        ] {
            assert!(
                !endpoint(local_or_encrypted).plain_text_over_network(),
                "{local_or_encrypted}"
            );
        }
    }

    #[test]
    fn the_error_names_the_database_and_mode_but_not_the_password() {
        let endpoint = endpoint("postgres://u:hunter2@db:6432/users?sslmode=require");
        let described = endpoint.describe(&endpoint.config);
        assert_eq!(described, "PostgreSQL at db:6432/users (sslmode=require)");
    }
}

#[cfg(test)]
mod pool_tests {
    use super::*;
    use test_infra::proxy::TcpProxy;
    use test_infra::within_hang_guard;

    const TIMEOUT: Duration = Duration::from_secs(2);

    /// A pool of one connection to the shared PostgreSQL through `proxy`, with one statement
    /// run over it so that the connection exists and is back in the pool.
    async fn pool_with_one_used_connection(proxy: &TcpProxy, verify_after_idle: Duration) -> Pool {
        let config: tokio_postgres::Config =
            format!("postgres://postgres@{}/postgres", proxy.address)
                .parse()
                .expect("a valid URL");
        let manager = Manager::from_config(
            config,
            tokio_postgres::NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = pool(manager, 1, TIMEOUT, verify_after_idle).expect("the pool builds");
        let client = within_hang_guard("the first checkout", pool.get())
            .await
            .expect("PostgreSQL answers through the proxy");
        client
            .simple_query("SELECT 1")
            .await
            .expect("a statement runs");
        pool
    }

    #[tokio::test]
    async fn an_idle_connection_that_no_longer_answers_is_not_handed_out() {
        let proxy = TcpProxy::start("127.0.0.1:5432".parse().expect("an address")).await;
        let pool = pool_with_one_used_connection(&proxy, Duration::ZERO).await;
        proxy.hold_answers();
        let checkout = within_hang_guard("a checkout while answers are held", pool.get()).await;
        assert!(
            checkout.is_err(),
            "a connection idle past the threshold must be checked, and one that does not answer \
             must not reach a request"
        );
        proxy.release_answers();
        let client = within_hang_guard("a checkout once answers flow", pool.get())
            .await
            .expect("a new connection replaces the dropped one");
        client.simple_query("SELECT 1").await.expect("it works");
    }

    #[tokio::test]
    async fn a_connection_in_recent_use_goes_out_without_a_round_trip() {
        let proxy = TcpProxy::start("127.0.0.1:5432".parse().expect("an address")).await;
        let pool = pool_with_one_used_connection(&proxy, Duration::from_secs(3600)).await;
        // Nothing the server says can reach the pool now, so a checkout that asked would fail.
        proxy.hold_answers();
        let checkout = within_hang_guard("a checkout while answers are held", pool.get()).await;
        assert!(
            checkout.is_ok(),
            "a connection used moments ago goes to its request unchecked"
        );
        proxy.release_answers();
    }
}
