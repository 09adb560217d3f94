//! Changing an order: a status change or a deletion, decided under the order's row lock, then
//! the stock given back when the order no longer holds it.

use super::CommandError;
use crate::domain::{Actor, Change, Lifecycle, Order, OrderStatus, Refusal};
use crate::metrics::StatusLabels;
use crate::state::AppState;

/// The order unless `actor` may not see it.
fn check_visible(order: &Order, actor: &Actor) -> Result<(), Refusal> {
    if order.visible_to(actor) {
        Ok(())
    } else {
        Err(Refusal::NotFound)
    }
}

/// Moves order `id` to `next`, if `actor` may.
pub async fn change_status(
    state: &AppState,
    actor: &Actor,
    id: i64,
    next: OrderStatus,
) -> Result<Order, CommandError> {
    // Admins are not counted: fulfilment is one admin moving many customers' orders, and a
    // bound sized for one customer would stall it.
    if !actor.is_admin {
        super::admit_write(state, actor).await?;
    }
    let changed = state
        .orders
        .change(id, |order| {
            check_visible(order, actor)?;
            order.status.check_transition(next, actor.is_admin)?;
            Ok(Change::Status(next))
        })
        .await?;
    state
        .metrics
        .status_changes
        .get_or_create(&StatusLabels {
            status: next.as_str(),
        })
        .inc();
    tracing::info!(
        order_id = changed.id,
        status = next.as_str(),
        "order status changed"
    );
    if !next.holds_stock() {
        state
            .releaser
            .release(changed.id, changed.reservation_id)
            .await;
    }
    Ok(changed)
}

/// Deletes a pending or cancelled order `id` of `actor`'s and gives its stock back.
pub async fn delete_order(state: &AppState, actor: &Actor, id: i64) -> Result<Order, CommandError> {
    let deleted = state
        .orders
        .change(id, |order| {
            check_visible(order, actor)?;
            match order.status {
                OrderStatus::Pending | OrderStatus::Cancelled => Ok(Change::Delete),
                other => Err(Refusal::NotDeletable(other)),
            }
        })
        .await?;
    tracing::info!(order_id = deleted.id, "order deleted");
    // Releasing an already released (cancelled) reservation is a no-op at the Product Service.
    state
        .releaser
        .release(deleted.id, deleted.reservation_id)
        .await;
    Ok(deleted)
}
