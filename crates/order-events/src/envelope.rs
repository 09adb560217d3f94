//! The body of every order event (schema version 1) and the strict decision whether a message
//! is one: a body that is not JSON, lacks a field, or carries a version or type the reader does
//! not know is rejected with a reason, never guessed at.

use chrono::{DateTime, SecondsFormat, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;
use uuid::Uuid;

use crate::money::Money;
use crate::status::OrderStatus;

/// The only body layout there is so far; announced in the body and in `x-schema-version`.
pub const SCHEMA_VERSION: u32 = 1;

/// What happened to the order. Its name is also the event's routing key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum EventType {
    /// An order was placed.
    #[serde(rename = "order.created")]
    OrderCreated,
    /// An order moved to another status (confirmed, shipped, completed, cancelled).
    #[serde(rename = "order.status_changed")]
    OrderStatusChanged,
    /// A pending or cancelled order was deleted.
    #[serde(rename = "order.deleted")]
    OrderDeleted,
}

impl EventType {
    pub const ALL: [Self; 3] = [
        Self::OrderCreated,
        Self::OrderStatusChanged,
        Self::OrderDeleted,
    ];

    /// The name in the body, the AMQP `type` property and the routing key.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OrderCreated => "order.created",
            Self::OrderStatusChanged => "order.status_changed",
            Self::OrderDeleted => "order.deleted",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }
}

/// The order as it was right after the change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OrderSnapshot {
    pub id: i64,
    pub user_id: i64,
    pub username: String,
    pub product_id: i64,
    /// The product's name when the order was placed.
    pub product_name: String,
    /// The product's price when the order was placed.
    pub unit_price: Money,
    /// 1 to 10,000.
    #[schemars(range(min = 1, max = 10_000))]
    pub quantity: u32,
    /// `unit_price` × `quantity`, exact to the cent.
    pub total_price: Money,
    pub status: OrderStatus,
    #[serde(serialize_with = "millis")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "millis")]
    pub updated_at: DateTime<Utc>,
}

/// One order event: the envelope and the order it is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OrderEvent {
    /// Unique per event and the same on every redelivery (also the AMQP `message_id`):
    /// consumers deduplicate on it. Version 7, so ids sort the way events happened.
    pub event_id: Uuid,
    pub event_type: EventType,
    /// Always 1 in this layout.
    #[schemars(range(min = 1, max = 1))]
    pub schema_version: u32,
    /// When the change was committed: the order's `created_at` or `updated_at`.
    #[serde(serialize_with = "millis")]
    pub occurred_at: DateTime<Utc>,
    /// The status before the change; null on `order.created`.
    #[serde(default)]
    pub previous_status: Option<OrderStatus>,
    pub order: OrderSnapshot,
}

/// Timestamps as the Order Service has always written them: RFC 3339, UTC, milliseconds.
fn millis<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&at.to_rfc3339_opts(SecondsFormat::Millis, true))
}

impl OrderEvent {
    /// `order.created` for a new order.
    pub fn created(order: OrderSnapshot) -> Self {
        Self {
            event_id: Uuid::now_v7(),
            event_type: EventType::OrderCreated,
            schema_version: SCHEMA_VERSION,
            occurred_at: order.created_at,
            previous_status: None,
            order,
        }
    }

    /// `order.status_changed` or `order.deleted` for an order that was `previous` before.
    pub fn changed(event_type: EventType, order: OrderSnapshot, previous: OrderStatus) -> Self {
        Self {
            event_id: Uuid::now_v7(),
            event_type,
            schema_version: SCHEMA_VERSION,
            occurred_at: order.updated_at,
            previous_status: Some(previous),
            order,
        }
    }

    /// The message body. Keys come out sorted (through a JSON map): the byte layout published
    /// since version 1, which the contract tests pin.
    pub fn to_json(&self) -> String {
        serde_json::to_value(self)
            .expect("an order event has only string keys")
            .to_string()
    }
}

/// Why a message is not an event the reader can handle. Redelivering it would fail the same
/// way, so a consumer dead-letters it at once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("malformed event: {0}")]
    Malformed(String),
    #[error("unknown schema version {0}")]
    UnknownSchemaVersion(String),
    #[error("unknown event type {0:?}")]
    UnknownEventType(String),
}

impl Rejection {
    /// A short label of the reason, for metrics and dead-letter headers.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::UnknownSchemaVersion(_) => "unknown_schema_version",
            Self::UnknownEventType(_) => "unknown_event_type",
        }
    }
}

/// Decodes a message body, accepting only the event types in `accepted` (a consumer names what
/// it handles; any other type is unknown to it). `schema_header` is the `x-schema-version`
/// header, if any: a version announced there is checked before the body is trusted.
pub fn decode(
    body: &[u8],
    schema_header: Option<&str>,
    accepted: &[EventType],
) -> Result<OrderEvent, Rejection> {
    if let Some(version) = schema_header
        && version.trim() != SCHEMA_VERSION.to_string()
    {
        return Err(Rejection::UnknownSchemaVersion(version.to_owned()));
    }
    let value: Value =
        serde_json::from_slice(body).map_err(|error| Rejection::Malformed(error.to_string()))?;
    let Some(fields) = value.as_object() else {
        return Err(Rejection::Malformed("the body is not a JSON object".into()));
    };
    // Version and type first, so a newer event is reported as such rather than as malformed.
    match fields.get("schema_version") {
        Some(Value::Number(number)) if number.as_u64() == Some(u64::from(SCHEMA_VERSION)) => {}
        Some(other) => return Err(Rejection::UnknownSchemaVersion(other.to_string())),
        None => return Err(Rejection::Malformed("schema_version is missing".into())),
    }
    match fields.get("event_type") {
        Some(Value::String(name))
            if EventType::parse(name).is_some_and(|kind| accepted.contains(&kind)) => {}
        Some(Value::String(name)) => return Err(Rejection::UnknownEventType(name.clone())),
        Some(_) => return Err(Rejection::Malformed("event_type is not a string".into())),
        None => return Err(Rejection::Malformed("event_type is missing".into())),
    }
    serde_json::from_value(value).map_err(|error| Rejection::Malformed(error.to_string()))
}
