//! The event bridge started in-process for tests, with names unique to the test (or the
//! production names on a broker of the test's own), and a private `nats-server` when the test
//! wants one.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use event_bridge::Application;
use event_bridge::config::BridgeConfig;
use service_runtime::config::ServiceConfig as _;
use service_runtime::config::Settings;
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

use crate::{free_port, wait_until};

/// A `nats-server` with JetStream on a free port, killed (by its PID) when dropped.
#[derive(Debug)]
pub struct PrivateNats {
    pub port: u16,
    directory: PathBuf,
    _child: Child,
}

impl PrivateNats {
    pub async fn start() -> Self {
        let port = free_port();
        let directory =
            std::env::temp_dir().join(format!("test-nats-{}", uuid::Uuid::new_v4().simple()));
        let child = Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(&directory)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("nats-server is installed");
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        wait_until(
            "the private nats-server",
            Duration::from_secs(10),
            || async { tokio::net::TcpStream::connect(address).await.ok().map(drop) },
        )
        .await;
        Self {
            port,
            directory,
            _child: child,
        }
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for PrivateNats {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.directory);
    }
}

/// The event bridge running in this process.
#[derive(Debug)]
pub struct BridgeHandle {
    pub address: SocketAddr,
    pub base_url: String,
    pub client: reqwest::Client,
    pub shutdown: CancellationToken,
    pub server: tokio::task::JoinHandle<()>,
}

impl BridgeHandle {
    /// Starts the bridge with `settings` (`AMQP_URL`, `NATS_URL`, `BRIDGE_*`, …) on a random
    /// port and waits until `/health` reports both brokers and the stream.
    pub async fn start(settings: &[(&'static str, &str)]) -> Self {
        crate::init();
        let mut pairs: Vec<(&'static str, String)> = vec![
            ("HOST", "127.0.0.1".into()),
            ("PORT", "0".into()),
            ("AMQP_TIMEOUT_MS", "2000".into()),
            ("NATS_TIMEOUT_MS", "2000".into()),
            ("SHUTDOWN_TIMEOUT_SECS", "5".into()),
            ("BRIDGE_STREAM_STORAGE", "memory".into()),
        ];
        pairs.extend(
            settings
                .iter()
                .map(|(key, value)| (*key, (*value).to_owned())),
        );
        let config = BridgeConfig::from_settings(Settings::from_pairs(pairs))
            .expect("test configuration is valid");
        let app = Application::build(config).await.expect("the bridge starts");
        let address = app.local_addr();
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(app.run(shutdown.clone()));
        let bridge = Self {
            address,
            base_url: format!("http://{address}"),
            client: crate::http_client(),
            shutdown,
            server,
        };
        wait_until(
            "the bridge to be healthy",
            Duration::from_secs(20),
            || async {
                let response = bridge.client.get(bridge.url("/health")).send().await.ok()?;
                response.status().is_success().then_some(())
            },
        )
        .await;
        bridge
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// The value of one sample of `/metrics` (0 when absent).
    pub async fn metric(&self, sample: &str) -> f64 {
        let response = self
            .client
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("metrics");
        crate::notification::metric_value(&response.text().await.unwrap_or_default(), sample)
    }

    /// Stops consuming, drains and closes both connections.
    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = self.server.await;
    }
}
