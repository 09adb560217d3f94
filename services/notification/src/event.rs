//! The order events this service handles, from the shared contract ([`order_events`],
//! `docs/events.md`), decoded strictly: a body that is not JSON, lacks a field, or carries a
//! version or type this service does not handle is rejected with a reason, never guessed at.

pub use order_events::{EventType, OrderEvent, OrderSnapshot, OrderStatus, Rejection};

/// The event types this service notifies about; any other is dead-lettered as unknown.
pub const HANDLED: [EventType; 2] = [EventType::OrderCreated, EventType::OrderStatusChanged];

/// Decodes a message body. `schema_header` is the `x-schema-version` header, if any.
pub fn decode(body: &[u8], schema_header: Option<&str>) -> Result<OrderEvent, Rejection> {
    order_events::decode(body, schema_header, &HANDLED)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

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

    #[test]
    fn the_documented_example_decodes() {
        let event = decode(sample().to_string().as_bytes(), Some("1")).unwrap();
        assert_eq!(event.event_type, EventType::OrderCreated);
        assert_eq!(event.order.id, 42);
        assert_eq!(event.order.total_price.to_string(), "498.00");
        assert_eq!(event.previous_status, None);
    }

    #[test]
    fn deleted_orders_are_not_this_services_business() {
        let mut value = sample();
        value["event_type"] = json!("order.deleted");
        value["previous_status"] = json!("pending");
        let rejection = decode(value.to_string().as_bytes(), None).unwrap_err();
        assert_eq!(rejection.reason(), "unknown_event_type");
    }
}
