//! RabbitMQ through lapin, with the connection supervised here rather than by lapin.
//!
//! [`AmqpLink`] owns one connection and one channel. Whoever needs the channel asks
//! [`AmqpLink::channel`]: while the connection is open it gets the same channel; after a drop it
//! gets a new connection and channel with the topology (exchanges, queues, bindings, QoS,
//! confirms) declared again. Consumers run under one loop that restarts the subscription when
//! its stream ends, errors or its channel silently dies, backing off between attempts:
//! [`consume_concurrently`] with one or several deliveries in hand at once, [`consume_ordered`]
//! with many in hand but in order per lane (the routing key, or a key of the caller's).
//! Trace context travels in message headers (`traceparent`, `tracestate`); [`delivery_span`]
//! continues it in the consumer.
#![warn(missing_debug_implementations)]

mod concurrent;
mod consumer;
mod ordered;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use lapin::Confirmation;
use lapin::options::BasicPublishOptions;
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use tokio::sync::Mutex;
use tracing::Instrument;

use shop_config::Secret;
use shop_telemetry::DependencyCheck;

pub use concurrent::{ConsumerOptions, consume_concurrently, delivery_span};
pub use ordered::{OrderedConsumer, Settlement, consume_ordered};

shop_config::settings_section! {
    /// RabbitMQ
    pub struct AmqpConfig {
        /// `amqp://user:password@host:port/vhost`.
        pub amqp_url: Secret = Secret::new("amqp://guest:guest@127.0.0.1:5672/%2f");
        /// The longest a connect, declare or publisher confirm may take (milliseconds).
        #[range(1..)]
        pub amqp_timeout_ms: u64 = 5_000;
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
/// Declares what a channel needs (exchanges, queues, bindings, QoS) on a fresh channel.
pub type Topology = Arc<dyn Fn(Channel) -> BoxFuture<lapin::Result<()>> + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum AmqpError {
    #[error("RabbitMQ unavailable")]
    Unavailable(#[source] lapin::Error),
    #[error("RabbitMQ did not answer within {0:?}")]
    Timeout(Duration),
    #[error("RabbitMQ refused the message (nack)")]
    Nacked,
}

struct Live {
    connection: Connection,
    channel: Channel,
}

impl Live {
    fn is_open(&self) -> bool {
        self.connection.status().connected() && self.channel.status().connected()
    }
}

/// One supervised connection and channel.
pub struct AmqpLink {
    url: String,
    name: String,
    timeout: Duration,
    confirms: bool,
    topology: Topology,
    current: Mutex<Option<Live>>,
    connected: AtomicBool,
}

impl std::fmt::Debug for AmqpLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpLink")
            .field("name", &self.name)
            .field("connected", &self.is_connected())
            .finish_non_exhaustive()
    }
}

impl AmqpLink {
    /// `name` shows in the RabbitMQ management UI; `confirms` turns on publisher confirms;
    /// `topology` runs on every new channel.
    pub fn new(
        config: &AmqpConfig,
        name: impl Into<String>,
        confirms: bool,
        topology: Topology,
    ) -> Arc<Self> {
        Arc::new(Self {
            url: config.amqp_url.expose().to_owned(),
            name: name.into(),
            timeout: Duration::from_millis(config.amqp_timeout_ms),
            confirms,
            topology,
            current: Mutex::new(None),
            connected: AtomicBool::new(false),
        })
    }

    /// Whether the last known state of the connection is open (no I/O).
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    /// An open channel with the topology declared, reconnecting if the last one dropped.
    pub async fn channel(&self) -> Result<Channel, AmqpError> {
        let mut current = self.current.lock().await;
        if let Some(live) = current.as_ref() {
            if live.is_open() {
                return Ok(live.channel.clone());
            }
            tracing::warn!(link = %self.name, "AMQP connection lost; reconnecting");
        }
        *current = None;
        self.connected.store(false, Ordering::Relaxed);
        let live = tokio::time::timeout(self.timeout, self.open())
            .await
            .map_err(|_| AmqpError::Timeout(self.timeout))?
            .map_err(AmqpError::Unavailable)?;
        let channel = live.channel.clone();
        *current = Some(live);
        self.connected.store(true, Ordering::Relaxed);
        tracing::info!(link = %self.name, "AMQP connection open");
        Ok(channel)
    }

    async fn open(&self) -> lapin::Result<Live> {
        let properties = ConnectionProperties::default()
            .with_connection_name(LongString::from(self.name.clone()));
        let connection = Connection::connect(&self.url, properties).await?;
        let channel = connection.create_channel().await?;
        if self.confirms {
            channel
                .confirm_select(lapin::options::ConfirmSelectOptions::default())
                .await?;
        }
        (self.topology)(channel.clone()).await?;
        Ok(Live {
            connection,
            channel,
        })
    }

    /// Forgets the current connection (closing it), so the next [`channel`](Self::channel)
    /// builds a new one. Called after an error that may have left the channel unusable.
    pub async fn reset(&self) {
        let previous = self.current.lock().await.take();
        self.connected.store(false, Ordering::Relaxed);
        if let Some(live) = previous {
            let _ = tokio::time::timeout(
                Duration::from_secs(1),
                live.connection.close(200, ShortString::from("reset")),
            )
            .await;
        }
    }

    /// Closes the connection for good (at shutdown).
    pub async fn close(&self) {
        self.reset().await;
    }

    /// Publishes and waits for the broker's confirm (the link must have `confirms` on).
    pub async fn publish_confirmed(
        &self,
        exchange: &str,
        routing_key: &str,
        payload: &[u8],
        properties: BasicProperties,
    ) -> Result<(), AmqpError> {
        let span = tracing::info_span!(
            "amqp.publish",
            otel.name = %format!("{routing_key} publish"),
            otel.kind = "producer",
            messaging.system = "rabbitmq",
            messaging.destination.name = exchange,
            messaging.rabbitmq.destination.routing_key = routing_key,
        );
        async {
            let channel = self.channel().await?;
            let outcome = tokio::time::timeout(self.timeout, async {
                channel
                    .basic_publish(
                        ShortString::from(exchange),
                        ShortString::from(routing_key),
                        BasicPublishOptions::default(),
                        payload,
                        properties,
                    )
                    .await?
                    .await
            })
            .await;
            match outcome {
                Ok(Ok(Confirmation::Ack(_) | Confirmation::NotRequested)) => Ok(()),
                Ok(Ok(Confirmation::Nack(_))) => Err(AmqpError::Nacked),
                Ok(Err(error)) => {
                    self.reset().await;
                    Err(AmqpError::Unavailable(error))
                }
                Err(_) => {
                    self.reset().await;
                    Err(AmqpError::Timeout(self.timeout))
                }
            }
        }
        .instrument(span)
        .await
    }
}

pub use shop_config::backoff::reconnect_backoff;

/// Declares `exchange` the way every party to the order events declares it: a durable topic
/// exchange, never auto-deleted. RabbitMQ refuses a second declaration of one exchange with
/// other flags, so the flags are written here only.
pub async fn declare_durable_topic_exchange(
    channel: &Channel,
    exchange: &str,
) -> lapin::Result<()> {
    channel
        .exchange_declare(
            ShortString::from(exchange),
            lapin::ExchangeKind::Topic,
            lapin::options::ExchangeDeclareOptions {
                durable: true,
                ..lapin::options::ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
}

/// The topology of a publisher: only the durable topic exchange it publishes to.
pub fn durable_topic_exchange(exchange: String) -> Topology {
    Arc::new(move |channel| {
        let exchange = exchange.clone();
        Box::pin(async move { declare_durable_topic_exchange(&channel, &exchange).await })
    })
}

/// Message headers carrying the current trace context plus `extra` pairs.
pub fn headers_with_trace(extra: &[(&str, &str)]) -> FieldTable {
    let mut headers = FieldTable::default();
    let trace = shop_telemetry::current_context_fields();
    let pairs = trace
        .iter()
        .map(|(key, value)| (key.as_str(), value.as_str()))
        .chain(extra.iter().copied());
    for (key, value) in pairs {
        headers.insert(
            ShortString::from(key),
            AMQPValue::LongString(LongString::from(value.to_owned())),
        );
    }
    headers
}

/// A string header of a delivery.
pub fn header<'a>(properties: &'a BasicProperties, name: &str) -> Option<&'a str> {
    let headers = properties.headers().as_ref()?;
    match headers.inner().get(name)? {
        AMQPValue::LongString(value) => std::str::from_utf8(value.as_bytes()).ok(),
        AMQPValue::ShortString(value) => Some(value.as_str()),
        _ => None,
    }
}

/// The trace context a delivery carries, to continue its trace in the consumer.
pub fn trace_context(properties: &BasicProperties) -> opentelemetry::Context {
    let fields = ["traceparent", "tracestate"]
        .into_iter()
        .filter_map(|name| header(properties, name).map(|value| (name, value)));
    shop_telemetry::context_from_fields(fields)
}

/// Health check: the link has (or can get) an open channel.
#[derive(Debug, Clone)]
pub struct AmqpCheck {
    pub link: Arc<AmqpLink>,
    pub required: bool,
}

#[salvo::async_trait]
impl DependencyCheck for AmqpCheck {
    fn name(&self) -> &'static str {
        "rabbitmq"
    }

    fn required(&self) -> bool {
        self.required
    }

    async fn check(&self) -> Result<(), String> {
        self.link
            .channel()
            .await
            .map(drop)
            .map_err(|error| error.to_string())
    }
}
