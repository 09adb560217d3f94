//! PostgreSQL: connection pool, database creation, migrations and traced statements.
//!
//! Each service owns one database. At start-up [`connect`] creates it when missing (if the role
//! may), applies the service's plain-SQL migrations under a PostgreSQL advisory lock so replicas
//! starting together do not race, and returns a pool whose wait, create and recycle timeouts
//! turn an exhausted or unreachable database into a fast error rather than a hung request.
//! `startup` holds that sequence and the optional second role that migrates; `tls` reads the
//! URL's `sslmode` and builds the rustls connector.
#![warn(missing_debug_implementations)]

mod startup;
mod tls;

pub use startup::{ConnectionMessages, MIGRATION_LOCK, connect, connect_unpooled};

use deadpool_postgres::{ClientWrapper, Pool, PoolError};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tracing::Instrument;

use shop_config::Secret;
use shop_telemetry::DependencyCheck;
use shop_telemetry::metrics::Metrics;

shop_config::settings_section! {
    /// PostgreSQL
    pub struct DatabaseConfig {
        /// `postgres://user[:password]@host:port/dbname[?sslmode=…]`; created if missing,
        /// migrations from `sql/<service>/` applied at start. `sslmode`: `disable` or `prefer`
        /// (the default; both plain text, `prefer` does not try TLS), `require` (TLS, the
        /// certificate not checked), `verify-ca` (signed by `DATABASE_CA_FILE`), `verify-full`
        /// (and issued for the host). Production warns about plain text to a non-loopback host.
        pub database_url: Secret = Secret::new("postgres://postgres@127.0.0.1:5432/postgres");
        /// The schema owner's URL (same form): when set, the database is created and migrated
        /// over it, and `DATABASE_URL` may be a role that only reads and writes rows
        /// (`sql/roles.sql`).
        pub database_migration_url: Option<Secret> = None;
        /// PEM file of the CA certificates the server's certificate must chain to, for
        /// `sslmode=verify-ca`/`verify-full` (a URL's `sslrootcert` wins).
        pub database_ca_file: Option<String> = None;
        /// Connections in the pool.
        #[range(1..)]
        pub db_pool_max_size: usize = 16;
        /// The longest a request waits for a connection, for a new connection to be made, or
        /// for an idle one to be verified (milliseconds): an exhausted or unreachable database
        /// is a fast 503.
        #[range(1..)]
        pub db_timeout_ms: u64 = 2_000;
        /// Create the database when it does not exist.
        pub db_create_database: bool = true;
    }
}

/// Why a statement failed, in the terms handlers map to HTTP.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// No connection could be had in time, or the server went away: a 503.
    #[error("database unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A unique constraint, named, rejected the write.
    #[error("unique constraint {constraint} violated")]
    UniqueViolation { constraint: String },
    /// A check or foreign-key constraint, named, rejected the write.
    #[error("constraint {constraint} violated")]
    ConstraintViolation { constraint: String },
    #[error("database query failed")]
    Query(#[source] tokio_postgres::Error),
}

impl From<PoolError> for DbError {
    fn from(error: PoolError) -> Self {
        match error {
            PoolError::Backend(error) => Self::from(error),
            other => Self::Unavailable(Box::new(other)),
        }
    }
}

impl From<tokio_postgres::Error> for DbError {
    fn from(error: tokio_postgres::Error) -> Self {
        let Some(db_error) = error.as_db_error() else {
            // No server error: the connection failed or closed.
            return Self::Unavailable(Box::new(error));
        };
        let code = db_error.code();
        let constraint = db_error.constraint().unwrap_or_default().to_owned();
        if *code == SqlState::UNIQUE_VIOLATION {
            Self::UniqueViolation { constraint }
        } else if [
            SqlState::CHECK_VIOLATION,
            SqlState::FOREIGN_KEY_VIOLATION,
            SqlState::NOT_NULL_VIOLATION,
        ]
        .contains(code)
        {
            Self::ConstraintViolation { constraint }
        } else if code.code().starts_with("08")
            || code.code().starts_with("57P")
            || *code == SqlState::TOO_MANY_CONNECTIONS
        {
            Self::Unavailable(Box::new(error))
        } else {
            Self::Query(error)
        }
    }
}

/// A span for one SQL statement: the text with placeholders, never the values.
pub fn statement_span(sql: &str) -> tracing::Span {
    let operation = sql
        .split_whitespace()
        .next()
        .unwrap_or("SQL")
        .to_ascii_uppercase();
    tracing::info_span!(
        "db.statement",
        otel.name = %format!("postgresql {operation}"),
        otel.kind = "client",
        db.system = "postgresql",
        db.operation = %operation,
        db.statement = sql,
    )
}

/// Traced statement helpers for a pooled connection or a transaction. Statements are prepared
/// once per connection and cached.
#[allow(async_fn_in_trait)]
pub trait Traced {
    async fn query_traced(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, DbError>;
    async fn query_opt_traced(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, DbError>;
    async fn query_one_traced(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, DbError>;
    async fn execute_traced(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, DbError>;
}

macro_rules! impl_traced {
    ($($ty:ty),*) => {$(
        impl Traced for $ty {
            async fn query_traced(
                &self,
                sql: &str,
                params: &[&(dyn ToSql + Sync)],
            ) -> Result<Vec<Row>, DbError> {
                async {
                    let statement = self.prepare_cached(sql).await?;
                    Ok(self.query(&statement, params).await?)
                }
                .instrument(statement_span(sql))
                .await
            }

            async fn query_opt_traced(
                &self,
                sql: &str,
                params: &[&(dyn ToSql + Sync)],
            ) -> Result<Option<Row>, DbError> {
                async {
                    let statement = self.prepare_cached(sql).await?;
                    Ok(self.query_opt(&statement, params).await?)
                }
                .instrument(statement_span(sql))
                .await
            }

            async fn query_one_traced(
                &self,
                sql: &str,
                params: &[&(dyn ToSql + Sync)],
            ) -> Result<Row, DbError> {
                async {
                    let statement = self.prepare_cached(sql).await?;
                    Ok(self.query_one(&statement, params).await?)
                }
                .instrument(statement_span(sql))
                .await
            }

            async fn execute_traced(
                &self,
                sql: &str,
                params: &[&(dyn ToSql + Sync)],
            ) -> Result<u64, DbError> {
                async {
                    let statement = self.prepare_cached(sql).await?;
                    Ok(self.execute(&statement, params).await?)
                }
                .instrument(statement_span(sql))
                .await
            }
        }
    )*};
}

impl_traced!(ClientWrapper, deadpool_postgres::Transaction<'_>);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    state: &'static str,
}

/// Exposes the pool's size, idle and in-use connections and waiting requests.
pub fn register_pool_metrics(metrics: &Metrics, pool: &Pool) {
    let connections = Family::<PoolLabels, Gauge>::default();
    let max = Gauge::<i64>::default();
    let waiting = Gauge::<i64>::default();
    metrics.register(
        "db_pool_connections",
        "Database pool connections by state (idle, in_use)",
        connections.clone(),
    );
    metrics.register(
        "db_pool_max_connections",
        "Database pool size limit",
        max.clone(),
    );
    metrics.register(
        "db_pool_waiting",
        "Requests waiting for a database connection",
        waiting.clone(),
    );
    let pool = pool.clone();
    metrics.on_scrape(move || {
        let status = pool.status();
        let idle = i64::try_from(status.available).unwrap_or(i64::MAX);
        let size = i64::try_from(status.size).unwrap_or(i64::MAX);
        connections
            .get_or_create(&PoolLabels { state: "idle" })
            .set(idle);
        connections
            .get_or_create(&PoolLabels { state: "in_use" })
            .set(size - idle);
        max.set(i64::try_from(status.max_size).unwrap_or(i64::MAX));
        waiting.set(i64::try_from(status.waiting).unwrap_or(i64::MAX));
    });
}

/// Health check: a connection from the pool answers `SELECT 1`.
#[derive(Debug, Clone)]
pub struct PostgresCheck(pub Pool);

#[salvo::async_trait]
impl DependencyCheck for PostgresCheck {
    fn name(&self) -> &'static str {
        "database"
    }

    async fn check(&self) -> Result<(), String> {
        let client = self.0.get().await.map_err(|error| error.to_string())?;
        client
            .simple_query("SELECT 1")
            .await
            .map(drop)
            .map_err(|error| error.to_string())
    }
}
