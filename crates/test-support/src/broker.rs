//! The shared RabbitMQ as tests see it: publish order events of the shared contract
//! ([`order_events`]) the way the Order Service does, and look into queues (counts, dead letters) without consuming them by a
//! service.

mod user;

pub use user::{TempBrokerUser, service_url};

use std::collections::HashMap;
use std::sync::Arc;

use lapin::options::{BasicGetOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel};
use order_events::{Money, OrderEvent, OrderSnapshot, OrderStatus, wire};
use serde_json::Value;
use shop_amqp::{self, AmqpConfig, AmqpLink, Topology};
use shop_config::{Secret, Settings};

/// The shared broker as RabbitMQ's default user `guest`, which the production profile (the
/// default one) refuses. Only for tests of that refusal or of the development profile;
/// everything else connects as the process's own user, [`service_url`].
pub const GUEST_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
pub const BROKER_ADDRESS: &str = "127.0.0.1:5672";

/// A well-formed `AMQP_URL` that production accepts, for config tests that never connect
/// (creating a real user costs a `rabbitmqctl` round trip).
const UNUSED_URL: &str = "amqp://config-test:never-connects-4c7e1a9b@127.0.0.1:5672/%2f";

/// Settings naming a broker, then `pairs`: production refuses to start an AMQP service
/// without `AMQP_URL`, so a config test that means to leave it out builds its settings
/// itself. The URL is never connected to.
pub fn settings_with_broker(pairs: &[(&'static str, &str)]) -> Settings {
    Settings::from_pairs(
        std::iter::once(("AMQP_URL", UNUSED_URL.to_owned()))
            .chain(pairs.iter().map(|(key, value)| (*key, (*value).to_owned()))),
    )
}

/// A message taken from a queue.
#[derive(Debug, Clone)]
pub struct TakenMessage {
    pub data: Vec<u8>,
    /// String-valued headers.
    pub headers: HashMap<String, String>,
    pub properties: BasicProperties,
}

/// A publishing and inspecting connection to the shared broker.
#[derive(Debug)]
pub struct TestBroker {
    link: Arc<AmqpLink>,
}

impl TestBroker {
    /// The shared broker, as this process's user.
    pub async fn connect() -> Self {
        Self::connect_to(service_url()).await
    }

    /// A connection to another broker, such as a [`test_infra::rabbitmq_server::PrivateRabbitMq`].
    pub async fn connect_to(url: &str) -> Self {
        crate::init();
        let nothing: Topology = Arc::new(|_| Box::pin(async { Ok(()) }));
        let config = AmqpConfig {
            amqp_url: Secret::new(url),
            amqp_timeout_ms: 5_000,
        };
        let link = AmqpLink::new(&config, "tests", true, nothing);
        link.channel().await.expect("the RabbitMQ answers");
        Self { link }
    }

    async fn channel(&self) -> Channel {
        self.link
            .channel()
            .await
            .expect("the shared RabbitMQ answers")
    }

    /// Publishes with a confirm; panics if the broker refuses.
    pub async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        properties: BasicProperties,
    ) {
        self.link
            .publish_confirmed(exchange, routing_key, body, properties)
            .await
            .expect("the broker confirms the message");
    }

    /// Publishes `event` as the Order Service would: routing key = event type, message id =
    /// event id, `x-schema-version`, and `traceparent` when given.
    pub async fn publish_event(&self, exchange: &str, event: &Value, traceparent: Option<&str>) {
        let event_type = event["event_type"].as_str().unwrap_or("order.created");
        let properties = event_properties(event, traceparent);
        self.publish(
            exchange,
            event_type,
            event.to_string().as_bytes(),
            properties,
        )
        .await;
    }

    /// Takes one message off `queue` (acknowledged at once), if there is one.
    pub async fn take(&self, queue: &str) -> Option<TakenMessage> {
        let message = self
            .channel()
            .await
            .basic_get(ShortString::from(queue), BasicGetOptions { no_ack: true })
            .await
            .expect("basic.get on an existing queue")?;
        let delivery = message.delivery;
        let headers = delivery
            .properties
            .headers()
            .as_ref()
            .map(|table| {
                table
                    .inner()
                    .iter()
                    .filter_map(|(name, value)| match value {
                        AMQPValue::LongString(text) => Some((
                            name.to_string(),
                            String::from_utf8_lossy(text.as_bytes()).into_owned(),
                        )),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        Some(TakenMessage {
            data: delivery.data,
            headers,
            properties: delivery.properties,
        })
    }

    /// (ready messages, consumers) of `queue`, or None if it does not exist.
    pub async fn queue_counts(&self, queue: &str) -> Option<(u32, u32)> {
        let passive = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        match self
            .channel()
            .await
            .queue_declare(ShortString::from(queue), passive, FieldTable::default())
            .await
        {
            Ok(queue) => Some((queue.message_count(), queue.consumer_count())),
            // A missing queue closes the channel; the link opens a new one next time.
            Err(_) => None,
        }
    }

    /// Deletes a test's own queue, as a broker that lost its state would have.
    pub async fn delete_queue(&self, queue: &str) {
        self.channel()
            .await
            .queue_delete(
                ShortString::from(queue),
                lapin::options::QueueDeleteOptions::default(),
            )
            .await
            .expect("queue deleted");
    }

    /// A queue of the test's own (expiring by itself) bound to `exchange` with `binding_key`,
    /// declaring the exchange as the Order Service does. Returns the queue's name.
    pub async fn tap(&self, exchange: &str, binding_key: &str) -> String {
        let channel = self.channel().await;
        shop_amqp::declare_durable_topic_exchange(&channel, exchange)
            .await
            .expect("exchange declared");
        let queue = format!("test.tap.{}", uuid::Uuid::new_v4().simple());
        let mut arguments = FieldTable::default();
        arguments.insert("x-expires".into(), AMQPValue::LongUInt(300_000));
        channel
            .queue_declare(
                ShortString::from(queue.as_str()),
                QueueDeclareOptions::default(),
                arguments,
            )
            .await
            .expect("tap queue declared");
        channel
            .queue_bind(
                ShortString::from(queue.as_str()),
                ShortString::from(exchange),
                ShortString::from(binding_key),
                lapin::options::QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("tap queue bound");
        queue
    }

    /// Every message `queue` holds now.
    pub async fn take_all(&self, queue: &str) -> Vec<TakenMessage> {
        let mut messages = Vec::new();
        while let Some(message) = self.take(queue).await {
            messages.push(message);
        }
        messages
    }

    /// Deletes a test's own exchange.
    pub async fn delete_exchange(&self, exchange: &str) {
        let _ = self
            .channel()
            .await
            .exchange_delete(
                ShortString::from(exchange),
                lapin::options::ExchangeDeleteOptions::default(),
            )
            .await;
    }

    pub async fn close(self) {
        self.link.close().await;
    }
}

/// The properties the contract ([`order_events::wire`]) prescribes for `event`, taken from the
/// body as it stands (a test may have edited it into something the contract forbids).
pub fn event_properties(event: &Value, traceparent: Option<&str>) -> BasicProperties {
    let mut headers = FieldTable::default();
    let version = event["schema_version"].to_string();
    headers.insert(
        wire::SCHEMA_VERSION_HEADER.into(),
        AMQPValue::LongString(version.into()),
    );
    if let Some(traceparent) = traceparent {
        headers.insert(
            wire::TRACEPARENT_HEADER.into(),
            AMQPValue::LongString(traceparent.into()),
        );
    }
    let event_id = event["event_id"].as_str().unwrap_or_default();
    let event_type = event["event_type"].as_str().unwrap_or_default();
    BasicProperties::default()
        .with_content_type(wire::CONTENT_TYPE.into())
        .with_delivery_mode(wire::PERSISTENT)
        .with_message_id(event_id.into())
        .with_type(event_type.into())
        .with_app_id(wire::APP_ID.into())
        .with_timestamp(
            chrono::Utc::now()
                .timestamp()
                .try_into()
                .unwrap_or_default(),
        )
        .with_headers(headers)
}

/// An order as events show it, for test events: order `order_id`, placed and last changed now.
pub fn order_snapshot(order_id: i64, status: OrderStatus) -> OrderSnapshot {
    let now = chrono::Utc::now();
    let money = |text: &str| Money::try_from(text.to_owned()).expect("a valid amount");
    OrderSnapshot {
        id: order_id,
        user_id: 7,
        username: "alice".into(),
        product_id: 3,
        product_name: "Walnut desk".into(),
        unit_price: money("249.00"),
        quantity: 2,
        total_price: money("498.00"),
        status,
        created_at: now,
        updated_at: now,
    }
}

/// An `order.created` event for order `order_id` with a fresh event id, as a JSON value that a
/// test may edit before publishing it.
pub fn order_created(order_id: i64) -> Value {
    let event = OrderEvent::created(order_snapshot(order_id, OrderStatus::Pending));
    serde_json::to_value(event).expect("an event is JSON")
}

/// A fresh sampled W3C `traceparent`, as a producer's request span would send.
pub fn new_traceparent() -> (String, String) {
    let trace_id = uuid::Uuid::new_v4().simple().to_string();
    let span_id = &uuid::Uuid::new_v4().simple().to_string()[..16];
    (format!("00-{trace_id}-{span_id}-01"), trace_id)
}

/// A private topic exchange (auto-deleted) and queue (expiring after two idle minutes) bound
/// with `#`, declared on every new channel; with `prefetch`, also the channel's QoS. For tests
/// of the runtime's AMQP link and consumers.
pub fn private_topology(exchange: String, queue: String, prefetch: Option<u16>) -> Topology {
    use lapin::ExchangeKind;
    use lapin::options::{BasicQosOptions, ExchangeDeclareOptions, QueueBindOptions};
    Arc::new(move |channel| {
        let (exchange, queue) = (exchange.clone(), queue.clone());
        Box::pin(async move {
            channel
                .exchange_declare(
                    ShortString::from(exchange.as_str()),
                    ExchangeKind::Topic,
                    ExchangeDeclareOptions {
                        auto_delete: true,
                        ..ExchangeDeclareOptions::default()
                    },
                    FieldTable::default(),
                )
                .await?;
            let mut arguments = FieldTable::default();
            arguments.insert("x-expires".into(), AMQPValue::LongUInt(120_000));
            channel
                .queue_declare(
                    ShortString::from(queue.as_str()),
                    QueueDeclareOptions::default(),
                    arguments,
                )
                .await?;
            channel
                .queue_bind(
                    ShortString::from(queue.as_str()),
                    ShortString::from(exchange.as_str()),
                    "#".into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await?;
            match prefetch {
                Some(count) => channel.basic_qos(count, BasicQosOptions::default()).await,
                None => Ok(()),
            }
        })
    })
}

/// Deletes a test's own exchange on the shared broker when dropped, even when the test fails:
/// a service declares its exchange durable, so without this every run would leave one behind.
#[derive(Debug)]
pub struct ExchangeCleanup {
    pub exchange: String,
}

impl Drop for ExchangeCleanup {
    fn drop(&mut self) {
        let exchange = std::mem::take(&mut self.exchange);
        crate::block_on_in_drop(async move {
            let delete = async {
                let connection = lapin::Connection::connect(
                    service_url(),
                    lapin::ConnectionProperties::default(),
                )
                .await
                .ok()?;
                let channel = connection.create_channel().await.ok()?;
                let _ = channel
                    .exchange_delete(
                        ShortString::from(exchange),
                        lapin::options::ExchangeDeleteOptions::default(),
                    )
                    .await;
                Some(())
            };
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), delete).await;
        });
    }
}
