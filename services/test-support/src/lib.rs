//! What integration tests across the workspace share.
//!
//! - [`init`]: once per test process: the crypto provider, the W3C propagator and, with
//!   `TEST_LOG=1`, logs on stderr.
//! - [`TestDatabase`]: a uniquely named database URL, dropped when the value is dropped.
//! - [`TestService`]: the one handle of a service running in-process on a random port; each
//!   service's handle is a `TestService` of its own parts (state, database, names).
//! - [`UserServiceHandle`]: the real User Service started in-process on a random port against a
//!   fresh database, with helpers to create customers and admins and get their tokens.
//! - [`wait_until`]: polling with a deadline, never a bare sleep.
//! - [`proxy::TcpProxy`]: a TCP proxy a test cuts to take a dependency away from one service.
//! - [`ProductServiceHandle`]: the real Product Service in-process, authenticating against a
//!   [`UserServiceHandle`], with its own Redis key prefix.
//! - [`OrderServiceHandle`]: the Order Service in-process, on an exchange of its own.
//! - [`postgres_server::PrivatePostgres`]: a PostgreSQL of the test's own that accepts only TLS,
//!   with the CA that signed its certificate.
//! - [`redis_server::PrivateRedis`]: a redis-server of the test's own, to kill and restart.
//! - [`rabbitmq_server::PrivateRabbitMq`]: a RabbitMQ node of the test's own, with its
//!   Prometheus endpoint.
//! - [`logs::capture_json_logs`]: a thread's log lines as production writes them.
//! - [`broker::TestBroker`]: publish order events per `docs/events.md`, look into queues.
//! - [`bridge::BridgeHandle`]: the event bridge in-process, on names unique to the test;
//!   [`nats_server::PrivateNats`] a nats-server of the test's own, to kill and restart.
//! - [`notification::NotificationServiceHandle`]: the Notification Service in-process on its
//!   own queue; [`smtp_sink::SmtpSink`] and [`webhook_sink::WebhookSink`] receive what it sends.

pub mod bridge;
pub mod broker;
pub mod logs;
pub mod nats_server;
pub mod notification;
mod order;
pub mod postgres_server;
mod product;
pub mod proxy;
pub mod rabbitmq_server;
pub mod redis_server;
mod service;
pub mod smtp_sink;
pub mod startup;
mod user;
pub mod webhook_sink;

pub use order::{OrderServiceHandle, Orders, order_service_settings};
pub use product::{
    ProductServiceHandle, Products, REDIS_URL, TEST_SERVICE_TOKEN, product_service_settings,
};
pub use service::TestService;
pub use user::{UserServiceHandle, Users, throttle_key_prefix, user_service_settings};

use std::future::Future;
use std::sync::{Once, OnceLock};
use std::time::{Duration, Instant};

use opentelemetry_sdk::trace::SdkTracerProvider;
use service_runtime::config::Settings;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

pub const POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432";
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
    init_tracing(None);
}

/// Like [`init`], but spans are also exported over OTLP/HTTP to `endpoint` (a collector base
/// URL, as `OTEL_EXPORTER_OTLP_ENDPOINT`), for tests that look at whole traces. Must be the
/// process's first call into this crate, so a test binary of its own. The returned provider
/// flushes on `force_flush`.
pub fn init_exporting_traces(endpoint: &str) -> &'static SdkTracerProvider {
    init_tracing(Some(endpoint));
    EXPORTING
        .get()
        .expect("init_exporting_traces must run before anything else initialises the tests")
}

fn init_tracing(otlp_endpoint: Option<&str>) {
    INIT.call_once(|| {
        service_runtime::server::install_crypto_provider();
        service_runtime::telemetry::install_propagator();
        // Spans get real trace ids (exported only when asked), so tests can follow a trace
        // context through services; logs show only with TEST_LOG=1.
        let config = service_runtime::config::CommonConfig {
            otel_exporter_otlp_endpoint: otlp_endpoint.map(str::to_owned),
            ..service_runtime::config::CommonConfig::default()
        };
        let provider = service_runtime::telemetry::tracer_provider(
            service_runtime::ServiceInfo {
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
        let logs = std::env::var_os("TEST_LOG").is_some().then(|| {
            tracing_subscriber::fmt::layer()
                .with_test_writer()
                .with_filter(tracing_subscriber::EnvFilter::new("debug"))
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

/// Settings of a service under test: loopback on a random port, then `pairs`, then `extra`,
/// which override both.
fn service_settings(
    pairs: Vec<(&'static str, String)>,
    extra: &[(&'static str, &str)],
) -> Settings {
    let local = [("HOST", "127.0.0.1".to_owned()), ("PORT", "0".to_owned())];
    let overrides = extra.iter().map(|(key, value)| (*key, (*value).to_owned()));
    Settings::from_pairs(local.into_iter().chain(pairs).chain(overrides))
}

/// A database that exists for one test: its name is unique; it is dropped (connections and
/// all) when this value is dropped.
#[derive(Debug)]
pub struct TestDatabase {
    pub name: String,
    pub url: String,
}

impl TestDatabase {
    /// A new name; the service under test creates the database itself at start-up.
    pub fn new(prefix: &str) -> Self {
        let name = format!("test_{prefix}_{}", uuid::Uuid::new_v4().simple());
        let url = format!("{POSTGRES_URL}/{name}");
        Self { name, url }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
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

/// Polls `check` every 20 ms until it returns `Some`, failing the test after `deadline`.
pub async fn wait_until<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
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

/// A loopback port nothing listens on now, for a process the test starts itself.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
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
