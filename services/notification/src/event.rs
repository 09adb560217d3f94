//! Order events as `docs/events.md` defines them (schema version 1), and the decision whether a
//! message is one: a body that is not JSON, lacks a field, or carries a version or type this
//! service does not know is rejected with a reason, never guessed at.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// The only body layout this service understands.
pub const SCHEMA_VERSION: u64 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderStatus {
    Pending,
    Confirmed,
    Shipped,
    Completed,
    Cancelled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "order.created")]
    OrderCreated,
    #[serde(rename = "order.status_changed")]
    OrderStatusChanged,
}

impl EventType {
    fn parse(name: &str) -> Option<Self> {
        match name {
            "order.created" => Some(Self::OrderCreated),
            "order.status_changed" => Some(Self::OrderStatusChanged),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::OrderCreated => "order.created",
            Self::OrderStatusChanged => "order.status_changed",
        }
    }
}

/// An amount of money as the contract writes it: a decimal string with two places, kept as
/// text so that it is shown exactly as the Order Service computed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Money(String);

impl TryFrom<String> for Money {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        let valid = text.split_once('.').is_some_and(|(units, cents)| {
            !units.is_empty()
                && units.bytes().all(|byte| byte.is_ascii_digit())
                && cents.len() == 2
                && cents.bytes().all(|byte| byte.is_ascii_digit())
        });
        if valid {
            Ok(Self(text))
        } else {
            Err(format!("{text:?} is not a decimal string with two places"))
        }
    }
}

impl From<Money> for String {
    fn from(money: Money) -> Self {
        money.0
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    pub id: i64,
    pub user_id: i64,
    pub username: String,
    pub product_id: i64,
    pub product_name: String,
    pub unit_price: Money,
    pub quantity: u32,
    pub total_price: Money,
    pub status: OrderStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderEvent {
    pub event_id: Uuid,
    pub event_type: EventType,
    pub schema_version: u64,
    pub occurred_at: DateTime<Utc>,
    #[serde(default)]
    pub previous_status: Option<OrderStatus>,
    pub order: Order,
}

/// Why a message is not an event this service can handle. Each goes to the dead-letter queue
/// at once: redelivering it would fail the same way.
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
    /// The label of this reason in metrics and in the dead letter's headers.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::UnknownSchemaVersion(_) => "unknown_schema_version",
            Self::UnknownEventType(_) => "unknown_event_type",
        }
    }
}

/// Decodes a message body. `schema_header` is the `x-schema-version` header, if any: a version
/// announced there is checked before the body is trusted.
pub fn decode(body: &[u8], schema_header: Option<&str>) -> Result<OrderEvent, Rejection> {
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
        Some(Value::Number(number)) if number.as_u64() == Some(SCHEMA_VERSION) => {}
        Some(other) => return Err(Rejection::UnknownSchemaVersion(other.to_string())),
        None => return Err(Rejection::Malformed("schema_version is missing".into())),
    }
    match fields.get("event_type") {
        Some(Value::String(name)) if EventType::parse(name).is_some() => {}
        Some(Value::String(name)) => return Err(Rejection::UnknownEventType(name.clone())),
        Some(_) => return Err(Rejection::Malformed("event_type is not a string".into())),
        None => return Err(Rejection::Malformed("event_type is missing".into())),
    }
    serde_json::from_value(value).map_err(|error| Rejection::Malformed(error.to_string()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn sample() -> Value {
        json!({
            "event_id": "0193a9d2-6b1e-7c1a-9f1e-2b5d8c4e7a10",
            "event_type": "order.created",
            "schema_version": 1,
            "occurred_at": "2026-11-25T03:00:00.123Z",
            "previous_status": null,
            "order": {
                "id": 42, "user_id": 7, "username": "alice", "product_id": 3,
                "product_name": "Walnut desk", "unit_price": "249.00", "quantity": 2,
                "total_price": "498.00", "status": "pending",
                "created_at": "2026-11-25T03:00:00.120Z", "updated_at": "2026-11-25T03:00:00.120Z"
            }
        })
    }

    fn decode_value(value: &Value) -> Result<OrderEvent, Rejection> {
        decode(value.to_string().as_bytes(), Some("1"))
    }

    #[test]
    fn the_documented_example_decodes() {
        let event = decode_value(&sample()).unwrap();
        assert_eq!(event.event_type, EventType::OrderCreated);
        assert_eq!(event.order.id, 42);
        assert_eq!(event.order.total_price.to_string(), "498.00");
        assert_eq!(event.previous_status, None);
    }

    #[test]
    fn unknown_fields_are_ignored_within_a_version() {
        let mut value = sample();
        value["order"]["gift_wrap"] = json!(true);
        value["channel"] = json!("web");
        assert!(decode_value(&value).is_ok());
    }

    #[test]
    fn rejections_say_why() {
        let cases: Vec<(Vec<u8>, Option<&str>, &str)> = vec![
            (b"{not json".to_vec(), None, "malformed"),
            (b"[1,2]".to_vec(), None, "malformed"),
            (
                sample().to_string().into_bytes(),
                Some("2"),
                "unknown_schema_version",
            ),
            (
                {
                    let mut value = sample();
                    value["schema_version"] = json!(2);
                    value.to_string().into_bytes()
                },
                None,
                "unknown_schema_version",
            ),
            (
                {
                    let mut value = sample();
                    value["event_type"] = json!("order.refunded");
                    value.to_string().into_bytes()
                },
                None,
                "unknown_event_type",
            ),
            (
                {
                    let mut value = sample();
                    value["order"]["total_price"] = json!(498.0);
                    value.to_string().into_bytes()
                },
                None,
                "malformed",
            ),
            (
                {
                    let mut value = sample();
                    value["order"].as_object_mut().unwrap().remove("id");
                    value.to_string().into_bytes()
                },
                None,
                "malformed",
            ),
        ];
        for (body, header, reason) in cases {
            let rejection = decode(&body, header).unwrap_err();
            assert_eq!(
                rejection.reason(),
                reason,
                "{}",
                String::from_utf8_lossy(&body)
            );
        }
    }

    #[test]
    fn money_needs_two_decimal_places() {
        for good in ["0.00", "249.00", "1000000.99"] {
            assert!(Money::try_from(good.to_owned()).is_ok(), "{good}");
        }
        for bad in ["249", "249.0", ".50", "-1.00", "1,00", "1.000", "abc.de"] {
            assert!(Money::try_from(bad.to_owned()).is_err(), "{bad}");
        }
    }
}
