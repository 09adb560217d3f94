//! The event bridge started in-process for tests: on names unique to the test (exchange,
//! queues with `x-expires`, subject prefix, stream), removed again when the handle goes, or on
//! the production names against brokers of the test's own.

use std::time::Duration;

use async_nats::jetstream;
use event_bridge::config::BridgeConfig;
use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
use lapin::types::ShortString;
use serde_json::Value;
use shop_config::ServiceConfig as _;
use shop_config::Settings;
use tokio_util::sync::CancellationToken;

use crate::broker::service_url;
use crate::{TestService, block_on_in_drop};

/// The machine's NATS server, shared by the tests that do not need to stop it.
pub const SHARED_NATS: &str = "nats://127.0.0.1:4222";

/// Names no other test (or engineer) uses.
#[derive(Debug, Clone)]
pub struct Names {
    pub exchange: String,
    pub queue: String,
    pub prefix: String,
    pub stream: String,
}

impl Names {
    pub fn unique() -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        Self {
            exchange: format!("test.bridge.{id}"),
            queue: format!("test.bridge.{id}"),
            prefix: format!("test.{id}"),
            stream: format!("TEST_BRIDGE_{id}"),
        }
    }
}

/// What a running bridge adds to its handle.
#[derive(Debug)]
pub struct Bridge {
    /// The names it runs on: the test's own ([`BridgeHandle::start_with`]) or the defaults.
    pub names: Names,
    pub nats_url: String,
    stop_on_drop: CancellationToken,
    _cleanup: Option<Cleanup>,
}

impl Bridge {
    /// A JetStream context on the bridge's NATS server.
    pub async fn jetstream(&self) -> jetstream::Context {
        jetstream::new(async_nats::connect(&self.nats_url).await.unwrap())
    }
}

impl Drop for Bridge {
    /// Stops consuming before the queues are deleted, so a consumer cancelled by the deletion
    /// does not resubscribe (and declare them again).
    fn drop(&mut self) {
        self.stop_on_drop.cancel();
    }
}

/// The event bridge running in this process.
pub type BridgeHandle = TestService<Bridge>;

impl BridgeHandle {
    /// Starts the bridge with `settings` (`AMQP_URL`, `NATS_URL`, `BRIDGE_*`, …) on a random
    /// port and waits until `/health` reports both brokers and the stream.
    pub async fn start(settings: &[(&'static str, &str)]) -> Self {
        let bridge = Self::launch(settings, None).await;
        bridge.wait_healthy().await;
        bridge
    }

    /// A bridge mirroring the order events on `exchange` (an Order Service's under test) onto
    /// the NATS server at `nats_url`, which must be the test's own: the subjects and stream are
    /// production's. It reads from a queue of its own on the shared broker, which expires by
    /// itself; `extra` adds settings.
    pub async fn start_mirroring(
        exchange: &str,
        nats_url: &str,
        extra: &[(&'static str, &str)],
    ) -> Self {
        let queue = format!("test.bridge.{}", uuid::Uuid::new_v4().simple());
        let mut settings = vec![
            ("AMQP_URL", service_url()),
            ("NATS_URL", nats_url),
            ("BRIDGE_EXCHANGE", exchange),
            ("BRIDGE_QUEUE", &queue),
            ("BRIDGE_QUEUE_EXPIRES_MS", "300000"),
        ];
        settings.extend_from_slice(extra);
        Self::start(&settings).await
    }

    /// A bridge on the shared brokers, on names of its own.
    pub async fn start_unique() -> Self {
        Self::start_with(Names::unique(), service_url(), SHARED_NATS, &[]).await
    }

    /// A bridge on `names`, which it removes from the brokers when the handle goes (even when
    /// the test fails).
    pub async fn start_with(
        names: Names,
        amqp_url: &str,
        nats_url: &str,
        extra: &[(&'static str, &str)],
    ) -> Self {
        let bridge = Self::start_unready(names, amqp_url, nats_url, extra).await;
        bridge.wait_healthy().await;
        bridge
    }

    /// Like [`Self::start_with`], without waiting for health: for a test that keeps a broker
    /// away on purpose and waits for what it needs itself.
    pub async fn start_unready(
        names: Names,
        amqp_url: &str,
        nats_url: &str,
        extra: &[(&'static str, &str)],
    ) -> Self {
        let mut settings: Vec<(&'static str, &str)> = vec![
            ("AMQP_URL", amqp_url),
            ("NATS_URL", nats_url),
            ("NATS_TIMEOUT_MS", "1000"),
            ("BRIDGE_EXCHANGE", &names.exchange),
            ("BRIDGE_QUEUE", &names.queue),
            ("BRIDGE_QUEUE_EXPIRES_MS", "300000"),
            ("BRIDGE_SUBJECT_PREFIX", &names.prefix),
            ("BRIDGE_STREAM", &names.stream),
        ];
        settings.extend_from_slice(extra);
        let cleanup = Cleanup {
            names: names.clone(),
            nats_url: nats_url.to_owned(),
        };
        Self::launch(&settings, Some(cleanup)).await
    }

    async fn launch(settings: &[(&'static str, &str)], cleanup: Option<Cleanup>) -> Self {
        crate::init();
        let mut pairs: Vec<(&'static str, String)> = vec![
            ("HOST", "127.0.0.1".into()),
            ("PORT", "0".into()),
            ("AMQP_TIMEOUT_MS", "2000".into()),
            ("NATS_TIMEOUT_MS", "2000".into()),
            ("SHUTDOWN_TIMEOUT_SECS", "5".into()),
            ("BRIDGE_STREAM_STORAGE", "memory".into()),
            // NATS sets a memory stream's byte limit aside whole: the 1 GiB default of several
            // tests' streams at once would exhaust the machine's JetStream memory.
            ("BRIDGE_STREAM_MAX_BYTES", (64 << 20).to_string()),
        ];
        pairs.extend(
            settings
                .iter()
                .map(|(key, value)| (*key, (*value).to_owned())),
        );
        let config = BridgeConfig::from_settings(Settings::from_pairs(pairs))
            .expect("test configuration is valid");
        let settings = &config.bridge;
        let names = Names {
            exchange: settings.bridge_exchange.clone(),
            queue: settings.bridge_queue.clone(),
            prefix: settings.bridge_subject_prefix.clone(),
            stream: settings.bridge_stream.clone(),
        };
        let nats_url = config.nats.nats_url.expose().to_owned();
        let app = event_bridge::build(config)
            .await
            .expect("the bridge starts");
        let parts = Bridge {
            names,
            nats_url,
            stop_on_drop: CancellationToken::new(),
            _cleanup: cleanup,
        };
        let mut bridge = Self::spawn(app, parts);
        bridge.parts.stop_on_drop = bridge.shutdown.clone();
        bridge
    }

    pub async fn health(&self) -> (u16, Value) {
        let response = self.get("/health").await;
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    /// Until `/health` says every broker is up (which also means the topology is declared).
    pub async fn wait_healthy(&self) {
        crate::wait_until(
            "the bridge to be healthy",
            Duration::from_secs(20),
            || async { (self.health().await.0 == 200).then_some(()) },
        )
        .await;
    }
}

/// Removes what a test created on the shared brokers, even when the test fails.
#[derive(Debug)]
struct Cleanup {
    names: Names,
    nats_url: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let names = self.names.clone();
        let nats_url = self.nats_url.clone();
        block_on_in_drop(async move {
            delete_stream(&nats_url, &names.stream).await;
            let amqp = delete_queues_and_exchange(&names);
            let _ = tokio::time::timeout(Duration::from_secs(5), amqp).await;
        });
    }
}

async fn delete_queues_and_exchange(names: &Names) -> Option<()> {
    let connection =
        lapin::Connection::connect(service_url(), lapin::ConnectionProperties::default())
            .await
            .ok()?;
    let channel = connection.create_channel().await.ok()?;
    for queue in [names.queue.clone(), format!("{}.dead", names.queue)] {
        let _ = channel
            .queue_delete(ShortString::from(queue), QueueDeleteOptions::default())
            .await;
    }
    let _ = channel
        .exchange_delete(
            ShortString::from(names.exchange.as_str()),
            ExchangeDeleteOptions::default(),
        )
        .await;
    Some(())
}

/// Deletes a JetStream stream when dropped: a test's stream, and with it its consumers, must not
/// outlive the test in the shared NATS (a memory stream holds its whole byte limit there).
#[derive(Debug)]
pub struct StreamCleanup {
    pub nats_url: String,
    pub stream: String,
}

impl Drop for StreamCleanup {
    fn drop(&mut self) {
        let nats_url = std::mem::take(&mut self.nats_url);
        let stream = std::mem::take(&mut self.stream);
        block_on_in_drop(async move { delete_stream(&nats_url, &stream).await });
    }
}

/// Deletes `stream` (and its consumers), bounded: a NATS that is gone leaves it behind.
async fn delete_stream(nats_url: &str, stream: &str) {
    let delete = async {
        let client = async_nats::connect(nats_url).await.ok()?;
        jetstream::new(client).delete_stream(stream).await.ok()
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), delete).await;
}
