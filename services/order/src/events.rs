//! The events an order emits, in the shape `docs/events.md` defines (schema version 1).

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;
use uuid::Uuid;

use crate::domain::OrderStatus;
use crate::repository::Order;

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone)]
pub struct OrderEvent {
    pub event_id: Uuid,
    pub event_type: &'static str,
    pub occurred_at: DateTime<Utc>,
    pub previous_status: Option<OrderStatus>,
    pub order: Order,
}

impl OrderEvent {
    pub fn created(order: &Order) -> Self {
        Self {
            // Version 7: time-ordered, so ids sort the way events happened.
            event_id: Uuid::now_v7(),
            event_type: "order.created",
            occurred_at: order.created_at,
            previous_status: None,
            order: order.clone(),
        }
    }

    /// `order.status_changed` or `order.deleted`.
    pub fn changed(event_type: &'static str, order: &Order, previous: OrderStatus) -> Self {
        Self {
            event_id: Uuid::now_v7(),
            event_type,
            occurred_at: order.updated_at,
            previous_status: Some(previous),
            order: order.clone(),
        }
    }

    pub fn to_json(&self) -> String {
        let order = &self.order;
        json!({
            "event_id": self.event_id,
            "event_type": self.event_type,
            "schema_version": SCHEMA_VERSION,
            "occurred_at": self.occurred_at.to_rfc3339_opts(SecondsFormat::Millis, true),
            "previous_status": self.previous_status,
            "order": {
                "id": order.id,
                "user_id": order.user_id,
                "username": order.username,
                "product_id": order.product_id,
                "product_name": order.product_name,
                "unit_price": order.unit_price.to_string(),
                "quantity": order.quantity,
                "total_price": order.total_price.to_string(),
                "status": order.status,
                "created_at": order.created_at.to_rfc3339_opts(SecondsFormat::Millis, true),
                "updated_at": order.updated_at.to_rfc3339_opts(SecondsFormat::Millis, true),
            }
        })
        .to_string()
    }
}
