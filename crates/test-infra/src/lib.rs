//! Infrastructure a test starts for itself and ends by its own handle: never the shared
//! PostgreSQL, Redis, RabbitMQ or NATS every other test uses, and nothing of the shop's services
//! (their in-process handles are `test-support`'s, built on this crate).
//!
//! - [`proxy::TcpProxy`]: a TCP proxy a test cuts to take a dependency away from one service.
//! - [`postgres_server::PrivatePostgres`]: a PostgreSQL of the test's own that accepts only TLS,
//!   with the CA that signed its certificate.
//! - [`redis_server::PrivateRedis`]: a redis-server of the test's own, to kill, stall and
//!   restart.
//! - [`rabbitmq_server::PrivateRabbitMq`]: a RabbitMQ node of the test's own, with its
//!   Prometheus endpoint.
//! - [`nats_server::PrivateNats`]: a nats-server of the test's own, to kill and restart.
//! - [`smtp_sink::SmtpSink`] and [`webhook_sink::WebhookSink`]: a mail relay and an HTTP
//!   endpoint that record what they receive.
//! - [`process::ServiceProcess`]: a service's real binary as a child process, to signal and to
//!   watch exit; [`startup`]: a binary that must refuse its configuration.
//! - [`metrics::metric_value`]: one sample of a Prometheus text.
//! - [`wait_until`]: polling with a deadline, never a bare sleep; [`HANG_GUARD`] and
//!   [`TIMEOUT_BEYOND_GUARD_MS`] for "fails fast, never waits for the dependency" tests.
//! - [`free_port`]: a loopback port reserved for a process the test starts; [`send_signal`] to
//!   such a process.
#![warn(missing_debug_implementations)]

pub mod metrics;
pub mod nats_server;
pub mod postgres_server;
pub mod process;
pub mod proxy;
pub mod rabbitmq_server;
pub mod redis_server;
pub mod smtp_sink;
pub mod startup;
pub mod webhook_sink;

use std::future::Future;
use std::time::{Duration, Instant};

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
/// `None` when a live process (this one included) holds it. Held until the file is dropped, or
/// the process ends however it ends.
pub fn exclusive_lock(
    dir: &std::path::Path,
    index: impl std::fmt::Display,
) -> Option<std::fs::File> {
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
    // reqwest is built without a crypto provider of its own (the workspace picks ring), and
    // building a client fails until one is installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
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
