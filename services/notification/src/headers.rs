//! The headers this service reads and writes on order messages, and the copy of a delivery it
//! parks in a delay queue or the dead-letter queue.

use lapin::BasicProperties;
use lapin::message::Delivery;
use lapin::types::{AMQPValue, LongString, ShortString};

/// The attempt a delivery is (1 when absent).
pub const ATTEMPT_HEADER: &str = "x-notification-attempt";
/// Comma-separated channels that already sent this event.
pub const DELIVERED_HEADER: &str = "x-notification-delivered";
/// On a dead letter: why (`malformed`, `unknown_schema_version`, `unknown_event_type`,
/// `permanent_failure`, `attempts_exhausted`).
pub const FAILURE_HEADER: &str = "x-notification-failure";
/// On a dead letter: the last error, for the person who looks at it.
pub const ERROR_HEADER: &str = "x-notification-error";
pub const SCHEMA_HEADER: &str = order_events::wire::SCHEMA_VERSION_HEADER;

/// The delivery's descriptive properties, persistent, with `extra` headers set (original ones
/// kept, so the trace context and schema version travel on). `expiration` and `user_id` are
/// not carried over: the first would expire a dead letter, the broker checks the second
/// against the connection's user.
pub fn forwarded(delivery: &Delivery, extra: &[(&str, &str)]) -> BasicProperties {
    let original = &delivery.properties;
    let mut headers = original.headers().clone().unwrap_or_default();
    for (name, value) in extra {
        headers.insert(
            ShortString::from(*name),
            AMQPValue::LongString(LongString::from((*value).to_owned())),
        );
    }
    if !headers.contains_key("x-original-routing-key") {
        headers.insert(
            "x-original-exchange".into(),
            AMQPValue::LongString(LongString::from(delivery.exchange.as_str())),
        );
        headers.insert(
            "x-original-routing-key".into(),
            AMQPValue::LongString(LongString::from(delivery.routing_key.as_str())),
        );
    }
    let mut properties = BasicProperties::default()
        .with_headers(headers)
        .with_delivery_mode(2);
    if let Some(value) = original.content_type() {
        properties = properties.with_content_type(value.clone());
    }
    if let Some(value) = original.content_encoding() {
        properties = properties.with_content_encoding(value.clone());
    }
    if let Some(value) = original.message_id() {
        properties = properties.with_message_id(value.clone());
    }
    if let Some(value) = original.correlation_id() {
        properties = properties.with_correlation_id(value.clone());
    }
    if let Some(value) = original.kind() {
        properties = properties.with_type(value.clone());
    }
    if let Some(value) = original.app_id() {
        properties = properties.with_app_id(value.clone());
    }
    if let Some(value) = original.timestamp() {
        properties = properties.with_timestamp(*value);
    }
    properties
}

pub fn message_id(properties: &BasicProperties) -> Option<String> {
    properties
        .message_id()
        .as_ref()
        .map(|id| id.as_str().to_owned())
}

/// The order id of a body that is not a valid event, when it has one, for the log line.
pub fn probable_order_id(body: &[u8]) -> Option<i64> {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()?
        .pointer("/order/id")?
        .as_i64()
}
