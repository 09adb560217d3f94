//! The record of one chaos run. Times are milliseconds since the workload started, on one
//! monotonic clock (the recorder's), so requests, faults and events can be compared.

use serde::{Deserialize, Serialize};

/// Everything a run saw, as the checker and the report read it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct History {
    /// The seed the schedule and the workload were drawn from.
    pub seed: u64,
    /// How long the workload ran (milliseconds).
    pub duration_ms: u64,
    /// Every request the workload sent, in the order they were started.
    pub requests: Vec<RequestRecord>,
    /// Every fault, from when it was applied until it healed.
    pub faults: Vec<FaultWindow>,
    /// Order events as a queue of the run's own, bound to the order exchange, received them
    /// (redeliveries included).
    pub broker_events: Vec<EventRecord>,
    /// Order events as they are stored in the JetStream stream, in stream order.
    pub stream_events: Vec<EventRecord>,
    /// Every notification the webhook receiver got, redeliveries included.
    pub notifications: Vec<NotificationRecord>,
    /// The databases once every fault healed and the system went quiet.
    pub final_state: FinalState,
}

/// What a request asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Operation {
    /// `POST /orders` with `Idempotency-Key: key`; `attempt` counts from 0 (a retry after no
    /// answer or a 5xx sends the same key again).
    PlaceOrder {
        key: String,
        user: String,
        product_id: i64,
        quantity: i64,
        attempt: u32,
    },
    /// `PUT /orders/{order_id}` to `cancelled`, by the order's owner.
    CancelOrder { order_id: i64 },
    /// `GET /orders/{order_id}` by the order's owner.
    ReadOrder { order_id: i64 },
    /// `GET /products/{product_id}`.
    ReadProduct { product_id: i64 },
    /// `PUT /products/{product_id}` with a new price (in cents) by the admin; each product's
    /// prices only grow, one write at a time, so a read older than a returned write shows.
    UpdatePrice { product_id: i64, price_cents: i64 },
}

impl Operation {
    /// A short name for tables and plots: `place`, `cancel`, `read_order`, `read_product`,
    /// `update_price`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::PlaceOrder { .. } => "place",
            Self::CancelOrder { .. } => "cancel",
            Self::ReadOrder { .. } => "read_order",
            Self::ReadProduct { .. } => "read_product",
            Self::UpdatePrice { .. } => "update_price",
        }
    }
}

/// How a request ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    /// An HTTP answer with this status.
    Status { status: u16 },
    /// No answer: the connection failed or the client's timeout struck. The request may or may
    /// not have taken effect.
    NoAnswer { reason: String },
}

impl Outcome {
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status } => Some(*status),
            Self::NoAnswer { .. } => None,
        }
    }

    pub fn is_success(&self) -> bool {
        self.status()
            .is_some_and(|status| (200..300).contains(&status))
    }
}

/// One request of the workload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRecord {
    pub start_ms: u64,
    pub end_ms: u64,
    pub operation: Operation,
    pub outcome: Outcome,
    /// The order the answer named (placement, cancel, read), when it named one.
    pub order_id: Option<i64>,
    /// The price (in cents) a successful product read or price update answered.
    pub price_cents: Option<i64>,
    /// The order's status in a successful order answer (`pending`, `cancelled`, ...).
    pub order_status: Option<String>,
}

impl RequestRecord {
    pub fn latency_ms(&self) -> u64 {
        self.end_ms.saturating_sub(self.start_ms)
    }
}

/// One fault, from when it was applied to when it healed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultWindow {
    /// What it did, in words an operator reads: "partition host-a ↛ postgres".
    pub name: String,
    /// Its family: `partition`, `latency`, `loss`, `bandwidth`, `kill`, `pause`, `restart`.
    pub kind: String,
    pub start_ms: u64,
    pub end_ms: u64,
}

impl FaultWindow {
    pub fn new(name: impl Into<String>, kind: &str, start_ms: u64, end_ms: u64) -> Self {
        Self {
            name: name.into(),
            kind: kind.to_owned(),
            start_ms,
            end_ms,
        }
    }
}

/// An order event as one reader saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRecord {
    pub event_id: String,
    /// `order.created`, `order.status_changed`, `order.deleted`.
    pub event_type: String,
    pub order_id: i64,
    /// The order's status in the event.
    pub status: String,
    /// The stream sequence (JetStream) or the arrival number (the broker queue), from 1.
    pub sequence: u64,
    /// When the reader got it (0 for the stream, read after the run).
    pub seen_ms: u64,
}

/// One webhook delivery of a notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationRecord {
    /// The event the notification is about (its `X-Event-Id`, also its `Idempotency-Key`).
    pub event_id: String,
    pub order_id: Option<i64>,
    pub at_ms: u64,
}

/// The databases after the run, once the system went quiet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FinalState {
    pub products: Vec<ProductState>,
    pub orders: Vec<OrderState>,
    /// `(user, Idempotency-Key, order id)` as the Order Service stored them.
    pub idempotency_keys: Vec<(String, String, Option<i64>)>,
}

/// One product: the stock it was created with and what the Product Service holds now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductState {
    pub id: i64,
    pub initial_stock: i64,
    /// `products.quantity` now.
    pub remaining: i64,
    /// Units held by reservations still `reserved` or `confirmed`.
    pub reserved: i64,
}

/// One order row as the Order Service holds it now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderState {
    pub id: i64,
    /// The owner's username.
    pub user: String,
    pub product_id: i64,
    pub quantity: i64,
    pub status: String,
    pub deleted: bool,
}

impl OrderState {
    /// Whether it still holds stock: not cancelled and not deleted.
    pub fn is_live(&self) -> bool {
        !self.deleted && self.status != "cancelled"
    }
}
