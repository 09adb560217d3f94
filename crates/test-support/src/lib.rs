//! What integration tests across the workspace share.
//!
//! - [`init`]: once per test process: the crypto provider, the W3C propagator and, with
//!   `TEST_LOG=1`, logs on stderr.
//! - [`TestDatabase`]: a uniquely named database URL, dropped when the value is dropped.
//! - [`TestService`]: the one handle of a service running in-process on a random port; each
//!   service's handle is a `TestService` of its own parts (state, database, names).
//! - [`UserServiceHandle`]: the real User Service started in-process on a random port against a
//!   fresh database, with helpers to create customers and admins and get their tokens.
//! - [`wait_until`], [`HANG_GUARD`], [`free_port`] and the like: `test-infra`'s, re-exported
//!   for the tests that use them beside a service's handle. The servers, proxy and sinks a test
//!   starts for itself are `test-infra`'s too.
//! - [`ProductServiceHandle`]: the real Product Service in-process, authenticating against a
//!   [`UserServiceHandle`], with its own Redis key prefix.
//! - [`OrderServiceHandle`]: the Order Service in-process, on an exchange of its own.
//! - [`logs::capture_json_logs`]: a thread's log lines as production writes them.
//! - [`broker::TestBroker`]: publish order events per `docs/events.md`, look into queues.
//! - [`bridge::BridgeHandle`]: the event bridge in-process, on names unique to the test.
//! - [`notification::NotificationServiceHandle`]: the Notification Service in-process on its
//!   own queue.

pub mod assertions;
pub mod bridge;
pub mod broker;
pub mod logs;
pub mod notification;
mod order;
mod product;
mod service;
mod user;

pub use assertions::{assert_problem, assert_problem_type, count_created, get, get_json};
pub use order::{OrderServiceHandle, Orders, order_service_settings};
pub use product::{ProductServiceHandle, Products, RedisPrefixCleanup, product_service_settings};
pub use service::TestService;
pub use user::{
    UserServiceHandle, Users, login_status, throttle_key_prefix, user_service_settings,
};

// What nearly every test takes alongside a service's handle, from the one import line it
// already has.
pub use test_infra::metrics::metric_value;
pub use test_infra::{
    HANG_GUARD, TIMEOUT_BEYOND_GUARD_MS, free_port, send_signal, wait_until, within_hang_guard,
};

use std::sync::{Once, OnceLock};

use opentelemetry_sdk::trace::SdkTracerProvider;
use shop_config::Settings;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

pub const POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432";
/// The shared Redis every test uses, each service under its own key prefix.
pub const REDIS_URL: &str = "redis://127.0.0.1:6379";
/// A service credential that passes the production checks, generated per test process: a value
/// written in the repository would be a published secret, which production refuses.
pub static TEST_SERVICE_TOKEN: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("generated-{}", uuid::Uuid::new_v4().simple()));
/// A JWT key that passes the production checks, generated per test process (a key written in
/// the repository would be a published secret, which production refuses).
pub static TEST_JWT_SECRET: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "generated-{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
});

static INIT: Once = Once::new();
static EXPORTING: OnceLock<SdkTracerProvider> = OnceLock::new();
/// Where [`init_exporting_traces`] sends spans; services under test are configured with it so
/// that, as in production, their requests get spans of their own.
static EXPORTING_TO: OnceLock<String> = OnceLock::new();

pub fn init() {
    init_tracing(None, false);
}

/// Like [`init`], for a process a test starts in its place (a cluster replica): warnings and
/// errors always go to stderr, which the test keeps for when the process fails.
pub fn init_child_process() {
    init_tracing(None, true);
}

/// Like [`init`], but spans are also exported over OTLP/HTTP to `endpoint` (a collector base
/// URL, as `OTEL_EXPORTER_OTLP_ENDPOINT`), for tests that look at whole traces. Must be the
/// process's first call into this crate, so a test binary of its own. The returned provider
/// flushes on `force_flush`.
pub fn init_exporting_traces(endpoint: &str) -> &'static SdkTracerProvider {
    init_tracing(Some(endpoint), false);
    EXPORTING
        .get()
        .expect("init_exporting_traces must run before anything else initialises the tests")
}

fn init_tracing(otlp_endpoint: Option<&str>, warnings_to_stderr: bool) {
    INIT.call_once(|| {
        shop_http::server::install_crypto_provider();
        shop_telemetry::install_propagator();
        // Spans get real trace ids (exported only when asked), so tests can follow a trace
        // context through services; logs show only with TEST_LOG=1.
        let config = shop_config::CommonConfig {
            otel_exporter_otlp_endpoint: otlp_endpoint.map(str::to_owned),
            ..shop_config::CommonConfig::default()
        };
        let provider = shop_telemetry::tracer_provider(
            shop_config::ServiceInfo {
                name: "tests",
                version: "0",
                description: "",
            },
            &config,
        )
        .expect("tracer provider");
        let tracer = opentelemetry::trace::TracerProvider::tracer(&provider, "tests");
        if let Some(endpoint) = otlp_endpoint {
            let _ = EXPORTING.set(provider);
            let _ = EXPORTING_TO.set(endpoint.to_owned());
        }
        use tracing_subscriber::fmt::{TestWriter, writer::BoxMakeWriter};
        let logs = if std::env::var_os("TEST_LOG").is_some() {
            Some(("debug", BoxMakeWriter::new(TestWriter::default())))
        } else {
            warnings_to_stderr.then(|| ("warn", BoxMakeWriter::new(std::io::stderr)))
        }
        .map(|(level, writer)| {
            tracing_subscriber::fmt::layer()
                .with_writer(writer)
                .with_filter(tracing_subscriber::EnvFilter::new(level))
        });
        let _ = tracing_subscriber::registry()
            .with(
                tracing_opentelemetry::layer()
                    .with_tracer(tracer)
                    .with_filter(tracing_subscriber::filter::LevelFilter::INFO),
            )
            .with(logs)
            .try_init();
    });
}

/// Settings of a service under test: loopback on a random port, a small database pool and
/// dependency timeouts for a busy machine, then `pairs`, then `extra`, which override both.
fn service_settings(
    pairs: Vec<(&'static str, String)>,
    extra: &[(&'static str, &str)],
) -> Settings {
    let local = [
        ("HOST", "127.0.0.1".to_owned()),
        ("PORT", "0".to_owned()),
        ("DB_POOL_MAX_SIZE", TEST_DB_POOL_MAX_SIZE.to_owned()),
    ]
    .into_iter()
    .chain(BUSY_MACHINE_TIMEOUTS.map(|(key, value)| (key, value.to_owned())));
    let overrides = extra.iter().map(|(key, value)| (*key, (*value).to_owned()));
    let exporting = EXPORTING_TO
        .get()
        .map(|endpoint| ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.clone()));
    Settings::from_pairs(local.chain(pairs).chain(exporting).chain(overrides))
}

/// Connections per database pool of a service under test (production's default is 16). The
/// machine's PostgreSQL takes 100 clients in all, and eight tests run at once beside two
/// clusters: at 16 a burst of concurrent orders in one test could leave another test's
/// service with "too many clients" (seen as 503s and failed connects).
pub const TEST_DB_POOL_MAX_SIZE: &str = "4";

/// Dependency timeouts for every service a test starts, in place of production's (Redis 100 ms
/// per command and 250 ms per connection, the database pool 2 s, a token validation 1.5 s, a
/// Product Service call 2 s). Many services share two cores while the suite runs, and a task
/// can wait for a core longer than that: a busy machine, not an outage, and it must not switch
/// a service to its fallbacks or its 503s (CI saw a login limit fall back to one replica's
/// window, a shop session read as unknown, and one of fifty concurrent orders answered 503).
/// Outage tests set short or very long timeouts themselves and take the dependency away for
/// real.
pub const BUSY_MACHINE_TIMEOUTS: [(&str, &str); 5] = [
    ("REDIS_TIMEOUT_MS", "1000"),
    ("REDIS_CONNECT_TIMEOUT_MS", "1000"),
    ("DB_TIMEOUT_MS", "10000"),
    ("AUTH_TIMEOUT_MS", "10000"),
    ("PRODUCT_TIMEOUT_MS", "10000"),
];

/// A database for one test. Dropping this value ends the database as it came: a database
/// named for the test is dropped (connections and all), one borrowed from the pool goes back.
#[derive(Debug)]
pub struct TestDatabase {
    pub name: String,
    pub url: String,
    /// Unique to this test's use of the database (shared by [`TestDatabase::share`]), for
    /// names that must not meet an earlier borrower's, such as Redis key prefixes.
    pub id: String,
    end: End,
}

#[derive(Debug)]
enum End {
    Drop,
    /// The pool's lock on the database, released with it.
    Return(#[allow(dead_code)] std::fs::File),
    Keep,
}

/// Where the pool's locks live: one `flock`ed file per database, `test_pool_<n>`.
const POOL_LOCKS: &str = "shop-test-databases";

impl TestDatabase {
    /// A new name; the service under test creates the database itself at start-up.
    pub fn new(prefix: &str) -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        Self::named(format!("test_{prefix}_{id}"))
    }

    /// `name`, dropped with this value: for a test that drops a database and creates it again.
    pub fn named(name: String) -> Self {
        Self {
            url: format!("{POSTGRES_URL}/{name}"),
            name,
            id: uuid::Uuid::new_v4().simple().to_string(),
            end: End::Drop,
        }
    }

    /// The same database for a second replica; the first value alone ends it.
    pub fn share(&self) -> Self {
        Self {
            name: self.name.clone(),
            url: self.url.clone(),
            id: self.id.clone(),
            end: End::Keep,
        }
    }

    /// An empty database borrowed from a pool kept between runs. Creating and dropping a
    /// database writes and deletes some 300 files, and with a few hundred per run that file
    /// churn was most of PostgreSQL's CPU time in the suite (ext4 inode allocation, in the
    /// kernel). A borrowed database is emptied instead: its connections ended, its `public`
    /// schema dropped and created again, so the service migrates it from nothing as it would
    /// a new one. The borrow is an exclusive `flock` held until this value drops, or the
    /// process ends however it ends, so no two tests ever share one. Tests of a service
    /// creating its own database use [`TestDatabase::new`].
    pub async fn borrow() -> Self {
        let locks = std::env::temp_dir().join(POOL_LOCKS);
        std::fs::create_dir_all(&locks).expect("the database pool's lock directory");
        for index in 0..1_000 {
            let Some(lock) = test_infra::exclusive_lock(&locks, index) else {
                continue;
            };
            let name = format!("test_pool_{index}");
            empty_pool_database(&name).await;
            return Self {
                url: format!("{POSTGRES_URL}/{name}"),
                name,
                id: uuid::Uuid::new_v4().simple().to_string(),
                end: End::Return(lock),
            };
        }
        panic!("all 1,000 pooled test databases are borrowed");
    }
}

/// Creates `name` if it is missing, else ends every connection to it and empties its `public`
/// schema.
async fn empty_pool_database(name: &str) {
    let admin = database_client(&format!("{POSTGRES_URL}/postgres")).await;
    let exists = admin
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await
        .expect("looking for a pooled database")
        .is_some();
    if !exists {
        admin
            .batch_execute(&format!("CREATE DATABASE \"{name}\" STRATEGY = FILE_COPY"))
            .await
            .unwrap_or_else(|error| panic!("creating {name}: {error}"));
        return;
    }
    // A borrower that died left its service's connections, perhaps mid-transaction.
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&name],
        )
        .await
        .expect("ending the connections of the previous borrower");
    let database = database_client(&format!("{POSTGRES_URL}/{name}")).await;
    database
        .batch_execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
        .await
        .unwrap_or_else(|error| panic!("emptying {name}: {error}"));
}

/// A client of the database at `url`, for a test that reads or changes what a service stored;
/// its connection runs on a task of the current runtime.
pub async fn database_client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|error| panic!("PostgreSQL answers at {url}: {error}"));
    tokio::spawn(connection);
    client
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if !matches!(self.end, End::Drop) {
            return;
        }
        let name = self.name.clone();
        block_on_in_drop(async move {
            let Ok((client, connection)) =
                tokio_postgres::connect(&format!("{POSTGRES_URL}/postgres"), tokio_postgres::NoTls)
                    .await
            else {
                return;
            };
            tokio::spawn(connection);
            let _ = client
                .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .await;
        });
    }
}

/// Runs a clean-up to its end from a `Drop`, which runs inside or outside a runtime: on a
/// thread of its own with a runtime of its own, which works in both.
pub(crate) fn block_on_in_drop(cleanup: impl std::future::Future<Output = ()> + Send + 'static) {
    let _ = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for a clean-up")
            .block_on(cleanup);
    })
    .join();
}

/// Prints a benchmark's measurement: `events` handled in `elapsed`, and so many per second.
pub fn print_throughput(what: &str, events: u64, elapsed: std::time::Duration) {
    let seconds = elapsed.as_secs_f64();
    println!(
        "{what}: {events} events in {seconds:.2} s = {:.0} events/s",
        events as f64 / seconds
    );
}

/// [`test_infra::http_client`] (no proxy, short timeouts), with the test process initialised
/// ([`init`]) first, as everything else this crate starts does.
pub fn http_client() -> reqwest::Client {
    init();
    test_infra::http_client()
}
