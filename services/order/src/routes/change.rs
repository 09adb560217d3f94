use std::sync::Arc;

use salvo::http::StatusCode;
use salvo::oapi::ToSchema;
use salvo::oapi::extract::PathParam;
use salvo::prelude::*;
use serde::Deserialize;
use service_runtime::auth::caller;
use service_runtime::body;
use service_runtime::server::state;

use super::{OrderResponse, check_visible};
use crate::domain::OrderStatus;
use crate::error::OrderError;
use crate::metrics::StatusLabels;
use crate::repository::Change;
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrderRequest {
    /// The new status. Owners may cancel a pending order; confirm, ship and complete (and
    /// cancelling a confirmed order) need the admin role.
    pub status: OrderStatus,
}

/// Change an order's status.
#[endpoint(
    tags("orders"),
    request_body = UpdateOrderRequest,
    responses((status_code = 200, description = "The updated order", body = OrderResponse))
)]
pub async fn update_order(
    id: PathParam<i64>,
    req: &mut Request,
    depot: &mut Depot,
) -> Result<Json<OrderResponse>, OrderError> {
    let request: UpdateOrderRequest = body::json(req).await?;
    let state = state::<Arc<AppState>>(depot).clone();
    let caller = caller(depot).clone();
    let next = request.status;
    let changed = state
        .orders
        .change(id.into_inner(), |order| {
            check_visible(order, &caller)?;
            order.status.check_transition(next, caller.is_admin())?;
            Ok::<_, OrderError>(Change::Status(next))
        })
        .await?
        .ok_or(OrderError::NotFound)??;
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
    Ok(Json(changed.into()))
}

/// Delete a pending or cancelled order; a pending order's stock is given back.
#[endpoint(
    tags("orders"),
    responses((status_code = 204, description = "Deleted"))
)]
pub async fn delete_order(
    id: PathParam<i64>,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), OrderError> {
    let state = state::<Arc<AppState>>(depot).clone();
    let caller = caller(depot).clone();
    let deleted = state
        .orders
        .change(id.into_inner(), |order| {
            check_visible(order, &caller)?;
            match order.status {
                OrderStatus::Pending | OrderStatus::Cancelled => Ok(Change::Delete),
                other => Err(OrderError::NotDeletable(other.as_str())),
            }
        })
        .await?
        .ok_or(OrderError::NotFound)??;
    tracing::info!(order_id = deleted.id, "order deleted");
    // Releasing an already released (cancelled) reservation is a no-op at the Product Service.
    state
        .releaser
        .release(deleted.id, deleted.reservation_id)
        .await;
    res.status_code(StatusCode::NO_CONTENT);
    Ok(())
}
