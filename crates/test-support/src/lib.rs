//! What integration tests across the workspace share.
//!
//! - [`init`]: once per test process: the crypto provider, the W3C propagator and, with
//!   `TEST_LOG=1`, logs on stderr.
//! - [`TestDatabase`]: a uniquely named database URL, dropped when the value is dropped.
//! - [`TestService`]: the one handle of a service running in-process on a random port; each
//!   service's handle is a `TestService` of its own parts (state, database, names).
//! - [`UserServiceHandle`]: the real User Service started in-process on a random port against a
//!   fresh database, with helpers to create customers and admins and get their tokens.
//! - [`wait_until`]: polling with a deadline, never a bare sleep; [`HANG_GUARD`] and
//!   [`TIMEOUT_BEYOND_GUARD_MS`] for "fails fast, never waits for the dependency" tests.
//! - [`proxy::TcpProxy`]: a TCP proxy a test cuts to take a dependency away from one service.
//! - [`ProductServiceHandle`]: the real Product Service in-process, authenticating against a
//!   [`UserServiceHandle`], with its own Redis key prefix.
//! - [`OrderServiceHandle`]: the Order Service in-process, on an exchange of its own.
//! - [`postgres_server::PrivatePostgres`]: a PostgreSQL of the test's own that accepts only TLS,
//!   with the CA that signed its certificate.
//! - [`redis_server::PrivateRedis`]: a redis-server of the test's own, to kill and restart.
//! - [`rabbitmq_server::PrivateRabbitMq`]: a RabbitMQ node of the test's own, with its
//!   Prometheus endpoint.
//! - [`process::ServiceProcess`]: a service's real binary as a child process, to signal and
//!   to watch exit.
//! - [`logs::capture_json_logs`]: a thread's log lines as production writes them.
//! - [`broker::TestBroker`]: publish order events per `docs/events.md`, look into queues.
//! - [`bridge::BridgeHandle`]: the event bridge in-process, on names unique to the test;
//!   [`nats_server::PrivateNats`] a nats-server of the test's own, to kill and restart.
//! - [`notification::NotificationServiceHandle`]: the Notification Service in-process on its
//!   own queue; [`smtp_sink::SmtpSink`] and [`webhook_sink::WebhookSink`] receive what it sends.

pub mod assertions;
pub mod bridge;
pub mod broker;
pub mod logs;
pub mod metrics;
pub mod nats_server;
pub mod notification;
mod order;
pub mod postgres_server;
pub mod process;
mod product;
pub mod proxy;
pub mod rabbitmq_server;
pub mod redis_server;
mod service;
pub mod smtp_sink;
pub mod startup;
mod user;
pub mod webhook_sink;

pub use assertions::{assert_problem, get_json};
pub use metrics::metric_value;
pub use order::{OrderServiceHandle, Orders, order_service_settings};
pub use product::{ProductServiceHandle, Products, RedisPrefixCleanup, product_service_settings};
pub use service::TestService;
pub use user::{UserServiceHandle, Users, throttle_key_prefix, user_service_settings};

use std::future::Future;
use std::sync::{Once, OnceLock};
use std::time::{Duration, Instant};

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
        if otlp_endpoint.is_some() {
            let _ = EXPORTING.set(provider);
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
    Settings::from_pairs(local.chain(pairs).chain(overrides))
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
            let Some(lock) = exclusive_lock(&locks, index) else {
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

/// Polls `check` every 20 ms until it returns `Some`, failing the test after `deadline`, or
/// after [`HANG_GUARD`] when that is longer: a deadline here only guards against a hang, and a
/// shorter one would turn a busy machine into a failure without telling anything about the code.
pub async fn wait_until<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = deadline.max(HANG_GUARD);
    let started = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            started.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// How long a step that should be quick may take before a test calls it hung. Not a
/// performance bound: far above anything a loaded two-core machine needs, so scheduling noise
/// never reaches it.
pub const HANG_GUARD: Duration = Duration::from_secs(60);

/// A dependency timeout, in milliseconds (ten minutes), for a test that proves a failure is
/// fast: set far beyond [`HANG_GUARD`] (and the test HTTP client's 30 s timeout), a caller that
/// waited for the timeout rather than failing at once trips the guard instead of passing slowly.
pub const TIMEOUT_BEYOND_GUARD_MS: &str = "600000";

/// `kill -<signal> <pid>` (`signal` as `kill` names it: `TERM`, `KILL`, `STOP`, `CONT`) to a
/// process the test started; fails the test if the signal could not be sent.
pub async fn send_signal(pid: u32, signal: &str) {
    let status = tokio::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .await
        .expect("kill runs");
    assert!(status.success(), "kill -{signal} {pid}: {status}");
}

/// `step`, failing the test if it has not finished within [`HANG_GUARD`].
pub async fn within_hang_guard<T>(what: &str, step: impl Future<Output = T>) -> T {
    tokio::time::timeout(HANG_GUARD, step)
        .await
        .unwrap_or_else(|_| panic!("{what}: still waiting after {HANG_GUARD:?}"))
}

/// A loopback port nothing listens on now, for a process the test starts itself.
///
/// Drawn at random below the kernel's ephemeral range (32768 and up here), because that range
/// is also where every outgoing connection gets its local port: with many tests connecting at
/// once, a port the kernel handed out for `:0` and let go was seen taken by some connection
/// before the process meant for it could listen there.
///
/// Below the range only another test's draw can collide, and that happened: a cluster draws its
/// twelve ports up front and starts the second replicas tens of seconds later, and CI saw one
/// fail to start. So each draw is also reserved across processes for as long as the drawing
/// process lives: an exclusive `flock` on `<tmp>/shop-test-ports/<port>.lock`, whose descriptor
/// is kept open. The kernel drops the lock when the process exits, so nothing goes stale.
pub fn free_port() -> u16 {
    const BELOW_EPHEMERAL: std::ops::Range<u16> = 10_000..32_768;
    let reservations = std::env::temp_dir().join("shop-test-ports");
    std::fs::create_dir_all(&reservations).expect("the port reservation directory");
    for _ in 0..1_000 {
        let port = rand::random_range(BELOW_EPHEMERAL);
        let Some(reservation) = exclusive_lock(&reservations, port) else {
            continue;
        };
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            // Held until the process exits: the process this port is for may start late.
            std::mem::forget(reservation);
            return port;
        }
    }
    panic!("no free loopback port in {BELOW_EPHEMERAL:?} after 1,000 draws");
}

/// The lock on `<dir>/<index>.lock` (a port's reservation, a pooled database's borrow), or
/// `None` when a live process (this one included) holds it.
fn exclusive_lock(dir: &std::path::Path, index: impl std::fmt::Display) -> Option<std::fs::File> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(format!("{index}.lock")))
        .expect("a lock file in the tests' temporary directory");
    file.try_lock().ok().map(|()| file)
}

/// An HTTP client for tests: no proxy, short timeouts so a hang fails fast.
pub fn http_client() -> reqwest::Client {
    init();
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("test HTTP client")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reserved_port_is_refused_until_its_holder_lets_go() {
        let dir = std::env::temp_dir().join(format!("port-reservations-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let held = exclusive_lock(&dir, 20_000).expect("a fresh port is reserved");
        assert!(
            exclusive_lock(&dir, 20_000).is_none(),
            "a port held by a live reservation was handed out again"
        );
        assert!(
            exclusive_lock(&dir, 20_001).is_some(),
            "another port is free"
        );
        drop(held);
        assert!(
            exclusive_lock(&dir, 20_000).is_some(),
            "a released reservation stays taken"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
