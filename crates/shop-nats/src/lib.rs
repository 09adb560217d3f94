//! NATS and JetStream through async-nats, shared by every process that talks to NATS.
//!
//! - [`connect`]: a client that keeps reconnecting by itself (also when NATS is down at start),
//!   logging each connection event.
//! - [`jetstream`] and [`ensure_stream`]: a JetStream context with bounded waits, and a stream
//!   created when missing or brought to the wanted configuration when it differs.
//! - [`NatsCheck`] and [`StreamCheck`]: health checks for the connection and for a stream.
//! - [`inject_trace`] / [`trace_context`]: W3C trace context in NATS message headers.
//! - [`close`]: flush what is buffered, then drain, at shutdown.
#![warn(missing_debug_implementations)]

use std::time::Duration;

use async_nats::jetstream::stream::{self, Config as StreamConfig};
use async_nats::jetstream::{self as js, Context};
use async_nats::{Client, ConnectOptions, Event, HeaderMap};

use shop_config::Secret;
use shop_telemetry::DependencyCheck;

shop_config::settings_section! {
    /// NATS
    pub struct NatsConfig {
        /// `nats://[user:password@]host:port`, several separated by commas.
        pub nats_url: Secret = Secret::new("nats://127.0.0.1:4222");
        /// The longest a connect, JetStream API request or PubAck may take (milliseconds).
        #[range(1..)]
        pub nats_timeout_ms: u64 = 5_000;
    }
}

impl NatsConfig {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.nats_timeout_ms)
    }
}

/// Longest pause between two reconnection attempts. Short, because a bridge or consumer waiting
/// on NATS holds messages back until it is reachable again.
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(2);

/// Delay before reconnection attempt `attempt`: 50 ms doubling up to [`MAX_RECONNECT_DELAY`].
pub fn reconnect_delay(attempt: usize) -> Duration {
    let exponent = u32::try_from(attempt.min(16)).unwrap_or(16);
    Duration::from_millis(50u64.saturating_mul(1 << exponent)).min(MAX_RECONNECT_DELAY)
}

/// A client named `name` (shown by the server's monitoring). It returns at once even when NATS
/// is down: the connection is made in the background and rebuilt after every drop, forever.
/// Requests issued meanwhile wait for it, bounded by `nats_timeout_ms`.
pub async fn connect(config: &NatsConfig, name: &str) -> Result<Client, async_nats::ConnectError> {
    let link = name.to_owned();
    let urls: Vec<async_nats::ServerAddr> = config
        .nats_url
        .expose()
        .split(',')
        .map(|url| url.trim().parse())
        .collect::<Result<_, _>>()
        .map_err(|error| {
            async_nats::ConnectError::with_source(async_nats::ConnectErrorKind::ServerParse, error)
        })?;
    // async-nats parses `nats://user:password@host` but does not send what it parsed: pass the
    // credentials of the first URL that carries some explicitly.
    let options = match urls.iter().find(|url| url.has_user_pass()) {
        Some(url) => ConnectOptions::with_user_and_password(
            decoded(url.username().unwrap_or_default()),
            decoded(url.password().unwrap_or_default()),
        ),
        None => ConnectOptions::new(),
    };
    options
        .name(name)
        .connection_timeout(config.timeout())
        .request_timeout(Some(config.timeout()))
        .retry_on_initial_connect()
        .max_reconnects(None)
        .reconnect_delay_callback(reconnect_delay)
        .event_callback(move |event| {
            let link = link.clone();
            async move { log_event(&link, &event) }
        })
        .connect(urls)
        .await
}

/// A URL's user or password as typed, before percent-encoding.
fn decoded(part: &str) -> String {
    percent_encoding::percent_decode_str(part)
        .decode_utf8_lossy()
        .into_owned()
}

fn log_event(link: &str, event: &Event) {
    match event {
        Event::Connected => tracing::info!(link, "NATS connection open"),
        Event::Disconnected => tracing::warn!(link, "NATS connection lost; reconnecting"),
        Event::Closed => tracing::info!(link, "NATS connection closed"),
        Event::Draining => tracing::info!(link, "NATS connection draining"),
        other => tracing::warn!(link, event = %other, "NATS event"),
    }
}

/// A JetStream context whose API requests and PubAcks wait at most `timeout`.
pub fn jetstream(client: Client, timeout: Duration) -> Context {
    js::context::ContextBuilder::new()
        .timeout(timeout)
        .build(client)
}

/// What [`ensure_stream`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEnsured {
    Created,
    Updated,
    Unchanged,
}

#[derive(Debug, thiserror::Error)]
pub enum EnsureStreamError {
    #[error("cannot look up stream {0}")]
    Lookup(String, #[source] js::context::GetStreamError),
    #[error("cannot create stream {0}")]
    Create(String, #[source] js::context::CreateStreamError),
    #[error("cannot update stream {0} (some settings, e.g. storage, cannot change in place)")]
    Update(String, #[source] js::context::UpdateStreamError),
}

/// Creates the stream `wanted.name` when missing; when it exists with settings that differ in
/// what `wanted` specifies (subjects, retention, limits, storage, duplicate window), updates it.
pub async fn ensure_stream(
    context: &Context,
    wanted: &StreamConfig,
) -> Result<StreamEnsured, EnsureStreamError> {
    let name = wanted.name.clone();
    match context.get_stream(&name).await {
        Ok(existing) => {
            if same_settings(&existing.cached_info().config, wanted) {
                return Ok(StreamEnsured::Unchanged);
            }
            context
                .update_stream(wanted)
                .await
                .map_err(|error| EnsureStreamError::Update(name.clone(), error))?;
            tracing::info!(stream = %name, "JetStream stream updated");
            Ok(StreamEnsured::Updated)
        }
        Err(error) if is_stream_not_found(&error) => {
            context
                .create_stream(wanted.clone())
                .await
                .map_err(|error| EnsureStreamError::Create(name.clone(), error))?;
            tracing::info!(stream = %name, "JetStream stream created");
            Ok(StreamEnsured::Created)
        }
        Err(error) => Err(EnsureStreamError::Lookup(name, error)),
    }
}

fn is_stream_not_found(error: &js::context::GetStreamError) -> bool {
    matches!(
        error.kind(),
        js::context::GetStreamErrorKind::JetStream(inner)
            if inner.error_code() == js::ErrorCode::STREAM_NOT_FOUND
    )
}

/// Whether `current` already has every setting [`ensure_stream`] manages as `wanted` has it.
fn same_settings(current: &StreamConfig, wanted: &StreamConfig) -> bool {
    let mut current_subjects = current.subjects.clone();
    let mut wanted_subjects = wanted.subjects.clone();
    current_subjects.sort();
    wanted_subjects.sort();
    current_subjects == wanted_subjects
        && current.retention == wanted.retention
        && current.storage == wanted.storage
        && current.max_age == wanted.max_age
        && current.max_messages == wanted.max_messages
        && current.max_bytes == wanted.max_bytes
        && current.duplicate_window == wanted.duplicate_window
        && current.discard == wanted.discard
}

/// Health check of the connection: connected, and a PING is answered.
#[derive(Debug, Clone)]
pub struct NatsCheck {
    pub client: Client,
    pub required: bool,
}

#[salvo::async_trait]
impl DependencyCheck for NatsCheck {
    fn name(&self) -> &'static str {
        "nats"
    }

    fn required(&self) -> bool {
        self.required
    }

    async fn check(&self) -> Result<(), String> {
        // A flush waits for the connection, so ask for the state first to answer at once.
        match self.client.connection_state() {
            async_nats::connection::State::Connected => {}
            state => return Err(format!("connection {state}")),
        }
        self.client.flush().await.map_err(|error| error.to_string())
    }
}

/// Health check of a JetStream stream: JetStream answers and the stream exists.
#[derive(Debug, Clone)]
pub struct StreamCheck {
    pub context: Context,
    pub stream: String,
    pub required: bool,
}

#[salvo::async_trait]
impl DependencyCheck for StreamCheck {
    fn name(&self) -> &'static str {
        "jetstream"
    }

    fn required(&self) -> bool {
        self.required
    }

    async fn check(&self) -> Result<(), String> {
        self.context
            .get_stream_no_info(&self.stream)
            .await
            .map(drop::<stream::Stream<()>>)
            .map_err(|error| format!("stream {}: {error}", self.stream))
    }
}

/// Adds the current span's `traceparent`/`tracestate` to `headers`; returns whether it did
/// (not when there is no valid current span, e.g. with tracing off).
pub fn inject_trace(headers: &mut HeaderMap) -> bool {
    let fields = shop_telemetry::current_context_fields();
    let injected = !fields.is_empty();
    for (name, value) in fields {
        headers.insert(name.as_str(), value.as_str());
    }
    injected
}

/// The trace context a NATS message carries, to continue its trace in a consumer.
pub fn trace_context(headers: &HeaderMap) -> opentelemetry::Context {
    let fields = ["traceparent", "tracestate"]
        .into_iter()
        .filter_map(|name| headers.get(name).map(|value| (name, value.as_str())));
    shop_telemetry::context_from_fields(fields)
}

/// At shutdown: sends what the client still buffers and waits for the server to have it, then
/// drains (closes) the connection. Bounded by `timeout` so a dead server cannot hold shutdown.
pub async fn close(client: &Client, timeout: Duration) {
    if tokio::time::timeout(timeout, client.flush()).await.is_err() {
        tracing::warn!("NATS flush did not finish before shutdown");
    }
    let _ = client.drain().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnect_delay_grows_and_is_capped() {
        assert_eq!(reconnect_delay(0), Duration::from_millis(50));
        assert_eq!(reconnect_delay(1), Duration::from_millis(100));
        assert_eq!(reconnect_delay(100), MAX_RECONNECT_DELAY);
    }

    #[test]
    fn equal_settings_ignore_subject_order() {
        let wanted = StreamConfig {
            name: "S".into(),
            subjects: vec!["a.>".into(), "b.>".into()],
            ..StreamConfig::default()
        };
        let mut current = wanted.clone();
        current.subjects.reverse();
        assert!(same_settings(&current, &wanted));
        current.max_age = Duration::from_secs(1);
        assert!(!same_settings(&current, &wanted));
    }
}
