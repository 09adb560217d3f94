//! The bytes on the wire. The expected bodies below were printed by the Order Service's
//! `json!`-based encoder before this crate existed: any change here is a contract change.

use chrono::{DateTime, Utc};
use order_events::{EventType, Money, OrderEvent, OrderSnapshot, OrderStatus, Rejection, decode};
use serde_json::{Value, json};

const CREATED: &str = r#"{"event_id":"0193a9d2-6b1e-7c1a-9f1e-2b5d8c4e7a10","event_type":"order.created","occurred_at":"2026-11-25T03:00:00.120Z","order":{"created_at":"2026-11-25T03:00:00.120Z","id":42,"product_id":3,"product_name":"Walnut \"desk\" é","quantity":2,"status":"pending","total_price":"498.00","unit_price":"249.00","updated_at":"2026-11-25T03:00:00.120Z","user_id":7,"username":"alice"},"previous_status":null,"schema_version":1}"#;
const CHANGED: &str = r#"{"event_id":"0193a9d2-6b1e-7c1a-9f1e-2b5d8c4e7a11","event_type":"order.status_changed","occurred_at":"2026-11-25T04:30:00.500Z","order":{"created_at":"2026-11-25T03:00:00.120Z","id":42,"product_id":3,"product_name":"Walnut \"desk\" é","quantity":2,"status":"cancelled","total_price":"498.00","unit_price":"249.00","updated_at":"2026-11-25T04:30:00.500Z","user_id":7,"username":"alice"},"previous_status":"pending","schema_version":1}"#;
const DELETED: &str = r#"{"event_id":"0193a9d2-6b1e-7c1a-9f1e-2b5d8c4e7a12","event_type":"order.deleted","occurred_at":"2026-11-25T04:30:00.500Z","order":{"created_at":"2026-11-25T03:00:00.120Z","id":42,"product_id":3,"product_name":"Walnut \"desk\" é","quantity":2,"status":"cancelled","total_price":"498.00","unit_price":"249.00","updated_at":"2026-11-25T04:30:00.500Z","user_id":7,"username":"alice"},"previous_status":"cancelled","schema_version":1}"#;

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn money(text: &str) -> Money {
    Money::try_from(text.to_owned()).unwrap()
}

/// The stored order: microsecond timestamps, as PostgreSQL keeps them.
fn snapshot(status: OrderStatus, updated_at: &str) -> OrderSnapshot {
    OrderSnapshot {
        id: 42,
        user_id: 7,
        username: "alice".into(),
        product_id: 3,
        product_name: "Walnut \"desk\" é".into(),
        unit_price: money("249.00"),
        quantity: 2,
        total_price: money("498.00"),
        status,
        created_at: at("2026-11-25T03:00:00.120456Z"),
        updated_at: at(updated_at),
    }
}

fn with_id(mut event: OrderEvent, id: &str) -> OrderEvent {
    event.event_id = id.parse().unwrap();
    event
}

#[test]
fn bodies_are_byte_for_byte_what_was_published_before() {
    let created = with_id(
        OrderEvent::created(snapshot(
            OrderStatus::Pending,
            "2026-11-25T03:00:00.120456Z",
        )),
        "0193a9d2-6b1e-7c1a-9f1e-2b5d8c4e7a10",
    );
    assert_eq!(created.to_json(), CREATED);
    let cancelled = snapshot(OrderStatus::Cancelled, "2026-11-25T04:30:00.5Z");
    let changed = with_id(
        OrderEvent::changed(
            EventType::OrderStatusChanged,
            cancelled.clone(),
            OrderStatus::Pending,
        ),
        "0193a9d2-6b1e-7c1a-9f1e-2b5d8c4e7a11",
    );
    assert_eq!(changed.to_json(), CHANGED);
    let deleted = with_id(
        OrderEvent::changed(EventType::OrderDeleted, cancelled, OrderStatus::Cancelled),
        "0193a9d2-6b1e-7c1a-9f1e-2b5d8c4e7a12",
    );
    assert_eq!(deleted.to_json(), DELETED);
}

#[test]
fn published_bodies_decode_to_the_same_event() {
    for body in [CREATED, CHANGED, DELETED] {
        let event = decode(body.as_bytes(), Some("1"), &EventType::ALL).unwrap();
        assert_eq!(event.to_json(), body);
    }
}

fn sample() -> Value {
    serde_json::from_str(CREATED).unwrap()
}

fn reason(body: &[u8], header: Option<&str>, accepted: &[EventType]) -> &'static str {
    decode(body, header, accepted).unwrap_err().reason()
}

#[test]
fn unknown_fields_are_ignored_within_a_version() {
    let mut value = sample();
    value["order"]["gift_wrap"] = json!(true);
    value["channel"] = json!("web");
    value.as_object_mut().unwrap().remove("previous_status");
    assert!(decode(value.to_string().as_bytes(), None, &EventType::ALL).is_ok());
}

#[test]
fn rejections_say_why() {
    let all = &EventType::ALL;
    let edited = |edit: &dyn Fn(&mut Value)| {
        let mut value = sample();
        edit(&mut value);
        value.to_string().into_bytes()
    };
    assert_eq!(reason(b"{not json", None, all), "malformed");
    assert_eq!(reason(b"[1,2]", None, all), "malformed");
    assert_eq!(
        reason(CREATED.as_bytes(), Some("2"), all),
        "unknown_schema_version"
    );
    let newer = edited(&|value| value["schema_version"] = json!(2));
    assert_eq!(reason(&newer, None, all), "unknown_schema_version");
    let refunded = edited(&|value| value["event_type"] = json!("order.refunded"));
    assert_eq!(reason(&refunded, None, all), "unknown_event_type");
    let float = edited(&|value| value["order"]["total_price"] = json!(498.0));
    assert_eq!(reason(&float, None, all), "malformed");
    let no_id = edited(&|value| {
        value["order"].as_object_mut().unwrap().remove("id");
    });
    assert_eq!(reason(&no_id, None, all), "malformed");
}

#[test]
fn a_reader_accepts_only_the_types_it_names() {
    let only_created = [EventType::OrderCreated];
    assert!(decode(CREATED.as_bytes(), None, &only_created).is_ok());
    assert_eq!(
        decode(DELETED.as_bytes(), None, &only_created),
        Err(Rejection::UnknownEventType("order.deleted".into()))
    );
}
