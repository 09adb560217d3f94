//! An order as this service stores it, who acts on it, and the changes and refusals of the
//! domain.

use chrono::{DateTime, Utc};
use order_events::OrderStatus;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::lifecycle::TransitionError;

/// A stored order.
#[derive(Debug, Clone)]
pub struct Order {
    pub id: i64,
    pub user_id: i64,
    pub username: String,
    pub product_id: i64,
    pub product_name: String,
    pub unit_price: Decimal,
    pub quantity: i32,
    pub total_price: Decimal,
    pub status: OrderStatus,
    pub reservation_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Order {
    /// Whether `actor` may see and change this order: its owner or an admin. Anyone else is
    /// told it does not exist, so its existence is not revealed.
    pub fn visible_to(&self, actor: &Actor) -> bool {
        self.user_id == actor.user_id || actor.is_admin
    }
}

/// Who places, reads or changes orders: a customer, or an admin running fulfilment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user_id: i64,
    /// Copied onto the orders they place.
    pub username: String,
    pub is_admin: bool,
}

/// What a new order is made of, once stock is reserved.
#[derive(Debug, Clone)]
pub struct NewOrder {
    pub user_id: i64,
    pub username: String,
    pub product_id: i64,
    pub product_name: String,
    pub unit_price: Decimal,
    pub quantity: i32,
    pub total_price: Decimal,
    pub reservation_id: Uuid,
}

/// A change to an order, decided under its row lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Status(OrderStatus),
    Delete,
}

/// Why the domain refuses a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No such order, or not one the caller may see.
    #[error("order not found")]
    NotFound,
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// Only pending or cancelled orders can be deleted.
    #[error("an order that is {} cannot be deleted", .0.as_str())]
    NotDeletable(OrderStatus),
}
