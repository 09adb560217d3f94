//! Placing an order: claim the idempotency key → reserve stock → store the order with its
//! `order.created` event → on failure, give the stock and the key back; on success, confirm the
//! reservation so the Product Service never sweeps it.
//!
//! The sequence runs in a task of its own that the request only awaits: a client that hangs up
//! (or a proxy that times the request out) drops the request, not the task, so a reservation is
//! always followed by its order or its release. The host waits for these tasks at shutdown.

use std::sync::Arc;

use shop_postgres::DbError;
use tokio::sync::oneshot;
use uuid::Uuid;

use super::CommandError;
use crate::domain::{Actor, NewOrder, Order, Quantity, total_price};
use crate::metrics::OutcomeLabels;
use crate::product_client::{ProductError, Reservation};
use crate::repository::{KeyClaim, PENDING_CAP};
use crate::state::AppState;

/// A valid request to place an order.
#[derive(Debug, Clone)]
pub struct PlaceOrder {
    pub product_id: i64,
    pub quantity: Quantity,
    /// Makes retries safe: the same key and request return the original order.
    pub idempotency_key: Option<String>,
}

/// The order, new or created earlier by a request with the same idempotency key.
#[derive(Debug)]
pub enum Placed {
    Created(Order),
    Replayed(Order),
}

/// Places `command` for `actor`, to the end even if the request stops waiting.
pub async fn place_order(
    state: &Arc<AppState>,
    actor: &Actor,
    command: PlaceOrder,
) -> Result<Placed, CommandError> {
    let (answer, answered) = oneshot::channel();
    let task_state = state.clone();
    let actor = actor.clone();
    // In the request's trace, so the order's SQL, its Product Service calls and its event
    // continue it.
    let placing = async move {
        let placed = place(&task_state, &actor, command).await;
        let created = match &placed {
            Ok(Placed::Created(order)) => Some((order.id, order.reservation_id)),
            _ => None,
        };
        // Nobody listening any more is fine: the order stands either way.
        let _ = answer.send(placed);
        if let Some((order_id, reservation_id)) = created {
            task_state.releaser.confirm(order_id, reservation_id).await;
        }
    };
    state.tasks.spawn(shop_telemetry::in_current_trace(placing));
    answered.await.map_err(|_| CommandError::Interrupted)?
}

async fn place(
    state: &AppState,
    actor: &Actor,
    command: PlaceOrder,
) -> Result<Placed, CommandError> {
    let key = command.idempotency_key.as_deref();
    if let Some(key) = key {
        let fingerprint = format!(
            "product_id={};quantity={}",
            command.product_id,
            command.quantity.get()
        );
        match state
            .orders
            .claim_key(actor.user_id, key, &fingerprint)
            .await?
        {
            KeyClaim::Claimed => {}
            KeyClaim::Replay(order_id) => {
                let order = state.orders.find(order_id).await?;
                return order.map(Placed::Replayed).ok_or(CommandError::NotFound);
            }
            KeyClaim::Mismatch => return Err(CommandError::KeyReused),
            KeyClaim::InProgress => return Err(CommandError::KeyInProgress),
        }
    }
    let outcome = reserve_and_store(state, actor, &command).await;
    if outcome.is_err()
        && let Some(key) = key
        && let Err(error) = state.orders.drop_claim(actor.user_id, key).await
    {
        tracing::warn!(error = %error, "idempotency claim not dropped; it expires on its own");
    }
    outcome.map(Placed::Created)
}

async fn reserve_and_store(
    state: &AppState,
    actor: &Actor,
    command: &PlaceOrder,
) -> Result<Order, CommandError> {
    // After the idempotency key (a replay returns the stored answer and is not counted), before
    // any stock is touched.
    super::admit_write(state, actor).await?;
    // Refused before any stock is touched; the insert checks again under a per-customer lock.
    if state.orders.pending_count(actor.user_id).await? >= state.orders.pending_cap() {
        return Err(CommandError::TooManyPending);
    }
    let reservation_id = Uuid::now_v7();
    let reservation = reserve(state, reservation_id, command).await?;
    let new_order = NewOrder {
        user_id: actor.user_id,
        username: actor.username.clone(),
        product_id: command.product_id,
        product_name: reservation.product_name,
        unit_price: reservation.unit_price,
        quantity: command.quantity.get(),
        total_price: total_price(reservation.unit_price, command.quantity),
        reservation_id,
    };
    let key = command.idempotency_key.as_deref();
    match state.orders.create(&new_order, key).await {
        Ok(order) => {
            state.metrics.orders_created.inc();
            state
                .metrics
                .revenue
                .inc_by(order.total_price.try_into().unwrap_or(0.0));
            tracing::info!(
                order_id = order.id,
                product_id = order.product_id,
                quantity = order.quantity,
                "order placed"
            );
            Ok(order)
        }
        Err(error) => {
            // The stock is held for an order that does not exist: give it back.
            state.releaser.release_orphan_later(reservation_id);
            match error {
                DbError::ConstraintViolation { constraint } if constraint == PENDING_CAP => {
                    Err(CommandError::TooManyPending)
                }
                other => Err(other.into()),
            }
        }
    }
}

/// Reserves the stock in the Product Service, counting why it failed when it does.
async fn reserve(
    state: &AppState,
    reservation_id: Uuid,
    command: &PlaceOrder,
) -> Result<Reservation, CommandError> {
    let reserved = state
        .products
        .reserve(reservation_id, command.product_id, command.quantity)
        .await;
    reserved.map_err(|error| {
        let outcome = match &error {
            ProductError::InsufficientStock(_) => "insufficient_stock",
            ProductError::NotFound(_) => "unknown_product",
            ProductError::Rejected(_) => "rejected",
            ProductError::Unavailable(_) => "unavailable",
        };
        state
            .metrics
            .reservations_failed
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
        match error {
            ProductError::NotFound(id) => CommandError::UnknownProduct(id),
            ProductError::InsufficientStock(reason) => CommandError::InsufficientStock(reason),
            ProductError::Rejected(reason) => CommandError::ProductRejected(reason),
            ProductError::Unavailable(reason) => CommandError::ProductUnavailable(reason),
        }
    })
}
