//! The events an order emits, in the contract's shape ([`order_events`]).

use order_events::{EventType, OrderEvent, OrderSnapshot};

use crate::domain::{Change, Order, OrderStatus};

/// The order as events show it.
fn snapshot(order: &Order) -> OrderSnapshot {
    OrderSnapshot {
        id: order.id,
        user_id: order.user_id,
        username: order.username.clone(),
        product_id: order.product_id,
        product_name: order.product_name.clone(),
        unit_price: order.unit_price.into(),
        // Positive: the orders_quantity_positive constraint holds it.
        quantity: order.quantity.unsigned_abs(),
        total_price: order.total_price.into(),
        status: order.status,
        created_at: order.created_at,
        updated_at: order.updated_at,
    }
}

/// `order.created` for a stored order.
pub fn created(order: &Order) -> OrderEvent {
    OrderEvent::created(snapshot(order))
}

/// `order.status_changed` or `order.deleted` for an order that was `previous` before `change`.
pub fn changed(change: Change, order: &Order, previous: OrderStatus) -> OrderEvent {
    let event_type = match change {
        Change::Status(_) => EventType::OrderStatusChanged,
        Change::Delete => EventType::OrderDeleted,
    };
    OrderEvent::changed(event_type, snapshot(order), previous)
}
