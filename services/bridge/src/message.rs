//! From a RabbitMQ delivery to the NATS message the stream stores: subject, message id and
//! headers. Pure functions, so every mapping rule has a unit test.
//!
//! - Subject: `{prefix}.{routing key}` (`order.created` → `events.order.created`). A routing
//!   key that is not a valid literal subject (empty token, whitespace, `*`, `>`) cannot be
//!   mirrored and is dead-lettered.
//! - Message id (JetStream's `Nats-Msg-Id`, the de-duplication key): the AMQP `message_id`,
//!   which the contract makes the event id. Missing it, the body's `event_id`; missing that
//!   too, `sha256:` of routing key and body, so a redelivery of the same message still gets the
//!   same id and is stored once. Each fallback is logged and counted.
//! - Headers: `Nats-Msg-Id`, `Content-Type`, `Amqp-Routing-Key`, `Amqp-Type`, and the AMQP
//!   headers with a string or number value (`traceparent`, `tracestate`, `x-schema-version`, …).
//!   The caller replaces `traceparent` by its own span's, which belongs to the same trace.
//!   AMQP headers named `Nats-*` (in any case) are dropped: they are JetStream's controls
//!   (`Nats-Rollup` purges a subject, `Nats-Expected-*` and `Nats-TTL` change what is stored),
//!   and whoever can publish to RabbitMQ must not be able to steer the stream through us.

use std::str::FromStr;

use async_nats::HeaderMap;
use async_nats::header::{HeaderName, HeaderValue, NATS_MESSAGE_ID};
use chrono::{DateTime, Utc};
use lapin::BasicProperties;
use lapin::types::AMQPValue;
use order_events::wire;

/// Where a message id came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdSource {
    MessageId,
    EventId,
    ContentHash,
}

impl IdSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MessageId => "message_id",
            Self::EventId => "event_id",
            Self::ContentHash => "content_hash",
        }
    }
}

/// Whether `token` can stand between dots in a subject one publishes to.
pub fn is_literal_token(token: &str) -> bool {
    !token.is_empty()
        && token != "*"
        && token != ">"
        && !token
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '*' || c == '>')
}

/// The subject a routing key maps to, or `None` when the key is no valid literal subject.
pub fn subject_for(prefix: &str, routing_key: &str) -> Option<String> {
    routing_key
        .split('.')
        .all(is_literal_token)
        .then(|| wire::nats_subject(prefix, routing_key))
}

fn usable_id(id: &str) -> bool {
    !id.trim().is_empty() && HeaderValue::from_str(id).is_ok()
}

/// The de-duplication id of a delivery and where it came from.
pub fn message_id(
    properties: &BasicProperties,
    routing_key: &str,
    payload: &[u8],
) -> (String, IdSource) {
    if let Some(id) = properties.message_id().as_ref().map(|id| id.as_str())
        && usable_id(id)
    {
        return (id.to_owned(), IdSource::MessageId);
    }
    if let Ok(body) = serde_json::from_slice::<serde_json::Value>(payload)
        && let Some(id) = body.get("event_id").and_then(serde_json::Value::as_str)
        && usable_id(id)
    {
        return (id.to_owned(), IdSource::EventId);
    }
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    context.update(routing_key.as_bytes());
    context.update(b"\n");
    context.update(payload);
    let digest = context.finish();
    let hex: String = digest
        .as_ref()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    (format!("sha256:{hex}"), IdSource::ContentHash)
}

/// A header value as text, if it is a string or a number without line breaks.
fn header_text(value: &AMQPValue) -> Option<String> {
    let text = match value {
        AMQPValue::LongString(text) => String::from_utf8(text.as_bytes().to_vec()).ok()?,
        AMQPValue::ShortString(text) => text.as_str().to_owned(),
        AMQPValue::ShortShortInt(n) => n.to_string(),
        AMQPValue::ShortShortUInt(n) => n.to_string(),
        AMQPValue::ShortInt(n) => n.to_string(),
        AMQPValue::ShortUInt(n) => n.to_string(),
        AMQPValue::LongInt(n) => n.to_string(),
        AMQPValue::LongUInt(n) => n.to_string(),
        AMQPValue::LongLongInt(n) => n.to_string(),
        AMQPValue::Timestamp(n) => n.to_string(),
        AMQPValue::Boolean(b) => b.to_string(),
        _ => return None,
    };
    HeaderValue::from_str(&text).is_ok().then_some(text)
}

fn insert(headers: &mut HeaderMap, name: &str, value: &str) {
    if let (Ok(name), Ok(value)) = (HeaderName::from_str(name), HeaderValue::from_str(value)) {
        headers.insert(name, value);
    }
}

/// A header JetStream acts on (`Nats-Msg-Id`, `Nats-Rollup`, `Nats-Expected-…`, `Nats-TTL`, …).
fn is_nats_control(name: &str) -> bool {
    name.get(..5)
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case("nats-"))
}

/// The headers of the mirrored message.
pub fn headers(properties: &BasicProperties, routing_key: &str, message_id: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Some(amqp_headers) = properties.headers().as_ref() {
        for (name, value) in amqp_headers.inner() {
            if is_nats_control(name.as_str()) {
                continue;
            }
            if let Some(text) = header_text(value) {
                insert(&mut headers, name.as_str(), &text);
            }
        }
    }
    insert(&mut headers, NATS_MESSAGE_ID.as_ref(), message_id);
    if let Some(content_type) = properties.content_type() {
        insert(&mut headers, "Content-Type", content_type.as_str());
    }
    if let Some(kind) = properties.kind() {
        insert(&mut headers, wire::NATS_AMQP_TYPE_HEADER, kind.as_str());
    }
    insert(&mut headers, wire::NATS_ROUTING_KEY_HEADER, routing_key);
    headers
}

/// The lane a delivery is mirrored in: the order it is about, so that one order's events (an
/// `order.created`, then its `order.status_changed`, under two routing keys) reach the stream
/// in the order RabbitMQ gave them. A body without an order id keeps to its routing key.
pub fn lane(delivery: &lapin::message::Delivery) -> String {
    lane_of(delivery.routing_key.as_str(), &delivery.data)
}

fn lane_of(routing_key: &str, payload: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Order {
        id: i64,
    }
    #[derive(serde::Deserialize)]
    struct Body {
        order: Order,
    }
    serde_json::from_slice::<Body>(payload).map_or_else(
        |_| format!("key:{routing_key}"),
        |body| format!("order:{}", body.order.id),
    )
}

/// When the event happened: the body's `occurred_at` (millisecond precision), else the AMQP
/// `timestamp` property (seconds). Used for the end-to-end latency.
pub fn occurred_at(properties: &BasicProperties, payload: &[u8]) -> Option<DateTime<Utc>> {
    #[derive(serde::Deserialize)]
    struct Body {
        occurred_at: DateTime<Utc>,
    }
    serde_json::from_slice::<Body>(payload)
        .ok()
        .map(|body| body.occurred_at)
        .or_else(|| {
            properties
                .timestamp()
                .and_then(|seconds| DateTime::from_timestamp(i64::try_from(seconds).ok()?, 0))
        })
}

#[cfg(test)]
mod tests {
    use lapin::types::{FieldTable, LongString, ShortString};

    use super::*;

    #[test]
    fn routing_keys_map_under_the_prefix() {
        assert_eq!(
            subject_for("events", "order.created").as_deref(),
            Some("events.order.created")
        );
        for bad in [
            "",
            "order..created",
            "order.*",
            "order.>",
            "order created",
            "order.\t",
        ] {
            assert_eq!(subject_for("events", bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_message_id_property_is_the_id() {
        let properties = BasicProperties::default().with_message_id(ShortString::from("e-1"));
        let (id, source) = message_id(&properties, "order.created", br#"{"event_id":"other"}"#);
        assert_eq!((id.as_str(), source), ("e-1", IdSource::MessageId));
    }

    #[test]
    fn without_message_id_the_body_event_id_is_the_id() {
        let (id, source) = message_id(
            &BasicProperties::default(),
            "order.created",
            br#"{"event_id":"e-2"}"#,
        );
        assert_eq!((id.as_str(), source), ("e-2", IdSource::EventId));
    }

    #[test]
    fn without_any_id_the_content_hash_is_stable_and_distinguishes_messages() {
        let properties = BasicProperties::default().with_message_id(ShortString::from("  "));
        let (first, source) = message_id(&properties, "order.created", b"not json");
        let (again, _) = message_id(&BasicProperties::default(), "order.created", b"not json");
        let (other_key, _) = message_id(&properties, "order.status_changed", b"not json");
        assert_eq!(source, IdSource::ContentHash);
        assert!(
            first.starts_with("sha256:") && first.len() == 7 + 64,
            "{first}"
        );
        assert_eq!(first, again);
        assert_ne!(first, other_key);
    }

    #[test]
    fn headers_carry_id_content_type_trace_and_string_headers() {
        let mut amqp = FieldTable::default();
        amqp.insert(
            ShortString::from("traceparent"),
            AMQPValue::LongString(LongString::from("00-abc-def-01")),
        );
        amqp.insert(
            ShortString::from("x-schema-version"),
            AMQPValue::LongUInt(1),
        );
        amqp.insert(
            ShortString::from("x-injected"),
            AMQPValue::LongString(LongString::from("a\r\nB: c")),
        );
        amqp.insert(ShortString::from("bad:name"), AMQPValue::Boolean(true));
        let properties = BasicProperties::default()
            .with_content_type(ShortString::from("application/json"))
            .with_type(ShortString::from("order.created"))
            .with_headers(amqp);
        let headers = headers(&properties, "order.created", "e-1");
        let get = |name: &str| headers.get(name).map(HeaderValue::as_str);
        assert_eq!(get("Nats-Msg-Id"), Some("e-1"));
        assert_eq!(get("Content-Type"), Some("application/json"));
        assert_eq!(get("traceparent"), Some("00-abc-def-01"));
        assert_eq!(get("x-schema-version"), Some("1"));
        assert_eq!(get("Amqp-Type"), Some("order.created"));
        assert_eq!(get("Amqp-Routing-Key"), Some("order.created"));
        assert_eq!(
            get("x-injected"),
            None,
            "a value with a line break is dropped"
        );
        // Six above; `bad:name` (a colon cannot be in a NATS header name) is dropped too.
        assert_eq!(headers.iter().count(), 6);
    }

    #[test]
    fn jetstream_control_headers_from_amqp_are_dropped() {
        let mut amqp = FieldTable::default();
        for name in [
            "Nats-Rollup",
            "nats-expected-stream",
            "NATS-TTL",
            "Nats-Msg-Id",
        ] {
            amqp.insert(
                ShortString::from(name),
                AMQPValue::LongString(LongString::from("all")),
            );
        }
        amqp.insert(
            ShortString::from("x-natsy"),
            AMQPValue::LongString(LongString::from("kept")),
        );
        let properties = BasicProperties::default().with_headers(amqp);
        let headers = headers(&properties, "order.created", "e-1");
        let names: Vec<String> = headers
            .iter()
            .map(|(name, _)| name.to_string().to_ascii_lowercase())
            .collect();
        for dropped in ["nats-rollup", "nats-expected-stream", "nats-ttl"] {
            assert!(!names.contains(&dropped.to_owned()), "{dropped} was copied");
        }
        // Ours, not the publisher's.
        assert_eq!(
            headers.get("Nats-Msg-Id").map(HeaderValue::as_str),
            Some("e-1")
        );
        assert_eq!(
            headers.get("x-natsy").map(HeaderValue::as_str),
            Some("kept")
        );
    }

    #[test]
    fn occurred_at_prefers_the_body_then_the_timestamp_property() {
        let body = br#"{"occurred_at":"2026-11-25T03:00:00.123Z"}"#;
        let properties = BasicProperties::default().with_timestamp(1_700_000_000);
        assert_eq!(
            occurred_at(&properties, body).unwrap().timestamp_millis(),
            1_795_575_600_123
        );
        assert_eq!(
            occurred_at(&properties, b"{}").unwrap().timestamp(),
            1_700_000_000
        );
        assert_eq!(occurred_at(&BasicProperties::default(), b"{}"), None);
    }

    #[test]
    fn an_orders_events_share_a_lane_whatever_their_routing_key() {
        let created = lane_of("order.created", br#"{"order":{"id":7,"status":"pending"}}"#);
        let changed = lane_of("order.status_changed", br#"{"order":{"id":7}}"#);
        assert_eq!(created, changed);
        assert_ne!(created, lane_of("order.created", br#"{"order":{"id":8}}"#));
        // No order id: the routing key, never one lane for every such message.
        assert_eq!(lane_of("order.created", b"not json"), "key:order.created");
        assert_ne!(
            lane_of("order.created", b"{}"),
            lane_of("order.status_changed", b"{}")
        );
    }
}
