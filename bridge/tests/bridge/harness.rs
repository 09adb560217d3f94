//! The bridge under test: started in-process on a random port against the real RabbitMQ and a
//! NATS server (the shared one, or a private one the test controls), with names unique to the
//! test (exchange, queues with `x-expires`, subject prefix, stream), removed when it ends.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use async_nats::jetstream::message::StreamMessage;
use async_nats::{self, jetstream};
use event_bridge::Application;
use event_bridge::config::BridgeConfig;
use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
use lapin::types::ShortString;
use serde_json::Value;
use service_runtime::config::ServiceConfig as _;
use service_runtime::config::Settings;
use tokio_util::sync::CancellationToken;

pub use crate::publisher::Publisher;

pub const BROKER: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
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

#[derive(Debug)]
pub struct TestBridge {
    pub names: Names,
    pub base_url: String,
    pub nats_url: String,
    pub client: reqwest::Client,
    pub shutdown: CancellationToken,
    pub task: Option<tokio::task::JoinHandle<()>>,
    _cleanup: Cleanup,
}

impl TestBridge {
    /// A bridge on the shared brokers.
    pub async fn start() -> Self {
        Self::start_with(Names::unique(), BROKER, SHARED_NATS, &[]).await
    }

    pub async fn start_with(
        names: Names,
        amqp_url: &str,
        nats_url: &str,
        extra: &[(&'static str, &str)],
    ) -> Self {
        test_support::init();
        let mut pairs: Vec<(&'static str, String)> = vec![
            ("HOST", "127.0.0.1".into()),
            ("PORT", "0".into()),
            ("AMQP_URL", amqp_url.into()),
            ("AMQP_TIMEOUT_MS", "2000".into()),
            ("NATS_URL", nats_url.into()),
            ("NATS_TIMEOUT_MS", "1000".into()),
            ("SHUTDOWN_TIMEOUT_SECS", "5".into()),
            ("BRIDGE_EXCHANGE", names.exchange.clone()),
            ("BRIDGE_QUEUE", names.queue.clone()),
            ("BRIDGE_QUEUE_EXPIRES_MS", "300000".into()),
            ("BRIDGE_SUBJECT_PREFIX", names.prefix.clone()),
            ("BRIDGE_STREAM", names.stream.clone()),
            ("BRIDGE_STREAM_STORAGE", "memory".into()),
        ];
        pairs.extend(extra.iter().map(|(key, value)| (*key, (*value).to_owned())));
        let config = BridgeConfig::from_settings(Settings::from_pairs(pairs))
            .expect("test configuration is valid");
        let app = Application::build(config).await.expect("bridge starts");
        let address: SocketAddr = app.local_addr();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(app.run(shutdown.clone()));
        let bridge = Self {
            _cleanup: Cleanup {
                names: names.clone(),
                nats_url: nats_url.to_owned(),
            },
            names,
            base_url: format!("http://{address}"),
            nats_url: nats_url.to_owned(),
            client: test_support::http_client(),
            shutdown,
            task: Some(task),
        };
        bridge.wait_healthy().await;
        bridge
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    pub async fn health(&self) -> (u16, Value) {
        let response = self.client.get(self.url("/health")).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    /// Until `/health` says every broker is up (which also means the topology is declared).
    pub async fn wait_healthy(&self) {
        test_support::wait_until(
            "the bridge to be healthy",
            Duration::from_secs(20),
            || async { (self.health().await.0 == 200).then_some(()) },
        )
        .await;
    }

    pub async fn metrics(&self) -> String {
        let response = self.client.get(self.url("/metrics")).send().await.unwrap();
        response.text().await.unwrap()
    }

    /// The value of one sample line of `/metrics` (0 when absent).
    pub async fn metric(&self, sample: &str) -> f64 {
        metric_value(&self.metrics().await, sample)
    }

    /// Stops the bridge and waits until it has drained and closed its connections.
    pub async fn stop(&mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(30), task)
                .await
                .expect("the bridge stops within its drain deadline")
                .unwrap();
        }
    }

    pub async fn jetstream(&self) -> jetstream::Context {
        jetstream::new(async_nats::connect(&self.nats_url).await.unwrap())
    }
}

impl Drop for TestBridge {
    /// Stops consuming before the queues are deleted, so a consumer cancelled by the deletion
    /// does not resubscribe (and declare them again).
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub fn metric_value(text: &str, sample: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(sample)?.strip_prefix(' '))
        .map_or(0.0, |value| value.trim().parse().unwrap())
}

/// Every message of the stream, in stream order.
pub async fn read_stream(context: &jetstream::Context, stream: &str) -> Vec<StreamMessage> {
    let stream = context.get_stream(stream).await.expect("the stream exists");
    let state = stream.cached_info().state.clone();
    let mut messages = Vec::new();
    for sequence in state.first_sequence..=state.last_sequence {
        if state.messages == 0 {
            break;
        }
        messages.push(stream.get_raw_message(sequence).await.unwrap());
    }
    messages
}

pub async fn stream_count(context: &jetstream::Context, stream: &str) -> u64 {
    match context.get_stream(stream).await {
        Ok(stream) => stream.cached_info().state.messages,
        Err(_) => 0,
    }
}

/// Waits until the stream holds `count` messages, then returns them.
pub async fn wait_for_stream(
    context: &jetstream::Context,
    stream: &str,
    count: u64,
    deadline: Duration,
) -> Vec<StreamMessage> {
    test_support::wait_until(
        &format!("{count} messages in stream {stream}"),
        deadline,
        || async { (stream_count(context, stream).await >= count).then_some(()) },
    )
    .await;
    read_stream(context, stream).await
}

pub fn header<'a>(message: &'a StreamMessage, name: &str) -> Option<&'a str> {
    message.headers.get(name).map(|value| value.as_str())
}

/// Checks that the stream holds each published event exactly once, under the subject of its
/// routing key, and in publish order per routing key.
pub fn assert_exactly_once_in_order(
    messages: &[StreamMessage],
    prefix: &str,
    published: &[(String, String)],
) {
    let ids: Vec<&str> = messages
        .iter()
        .map(|message| header(message, "Nats-Msg-Id").expect("Nats-Msg-Id"))
        .collect();
    let mut seen = HashMap::new();
    for id in &ids {
        *seen.entry(*id).or_insert(0) += 1;
    }
    let duplicates: Vec<_> = seen.iter().filter(|(_, count)| **count > 1).collect();
    assert!(duplicates.is_empty(), "stored twice: {duplicates:?}");
    assert_eq!(
        messages.len(),
        published.len(),
        "one stored message per event"
    );
    for key in ["order.created", "order.status_changed"] {
        let subject = format!("{prefix}.{key}");
        let stored: Vec<&str> = messages
            .iter()
            .filter(|message| message.subject.as_str() == subject)
            .map(|message| header(message, "Nats-Msg-Id").unwrap())
            .collect();
        let expected: Vec<&str> = published
            .iter()
            .filter(|(routing_key, _)| routing_key == key)
            .map(|(_, id)| id.as_str())
            .collect();
        assert_eq!(stored, expected, "order of {subject}");
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
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime for cleaning up");
            runtime.block_on(async move {
                let nats = async {
                    let client = async_nats::connect(&nats_url).await.ok()?;
                    let _ = jetstream::new(client).delete_stream(&names.stream).await;
                    Some(())
                };
                let _ = tokio::time::timeout(Duration::from_secs(5), nats).await;
                let amqp = async {
                    let connection =
                        lapin::Connection::connect(BROKER, lapin::ConnectionProperties::default())
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
                };
                let _ = tokio::time::timeout(Duration::from_secs(5), amqp).await;
            });
        })
        .join();
    }
}
