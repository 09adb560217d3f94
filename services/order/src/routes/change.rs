use std::sync::Arc;

use salvo::http::StatusCode;
use salvo::oapi::extract::PathParam;
use salvo::prelude::*;
use shop_http::body;
use shop_http::server::state;

use super::{OrderResponse, actor};
use crate::commands;
use crate::error::OrderError;
use crate::state::AppState;

pub use shop_contract::order::UpdateOrderRequest;

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
    let state = state::<Arc<AppState>>(depot);
    let actor = actor(depot);
    let changed = commands::change_status(state, &actor, id.into_inner(), request.status);
    Ok(Json(changed.await?.into()))
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
    let state = state::<Arc<AppState>>(depot);
    commands::delete_order(state, &actor(depot), id.into_inner()).await?;
    res.status_code(StatusCode::NO_CONTENT);
    Ok(())
}
