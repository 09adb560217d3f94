use std::sync::Arc;

use salvo::oapi::ToParameters;
use salvo::oapi::extract::PathParam;
use salvo::oapi::schema::Object;
use salvo::prelude::*;
use serde::Deserialize;
use shop_auth_client::caller;
use shop_http::body;
use shop_http::openapi;
use shop_http::problem::FieldError;
use shop_http::server::state;

use super::{OrderResponse, actor, visible};
use crate::error::OrderError;
use crate::state::AppState;

const DEFAULT_PAGE: i64 = 20;
const MAX_PAGE: i64 = 100;

pub use shop_contract::order::OrderPage;

/// Query of `GET /orders`.
#[derive(Debug, Default, Deserialize, ToParameters)]
#[serde(deny_unknown_fields)]
#[salvo(parameters(default_parameter_in = Query))]
pub struct ListQuery {
    /// Page size (default 20).
    #[salvo(parameter(schema_with = limit_schema))]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<i64>,
}

/// The bounds `list_orders` checks.
fn limit_schema() -> Object {
    openapi::integer(1, MAX_PAGE)
}

/// List the caller's orders.
#[endpoint(
    tags("orders"),
    parameters(ListQuery),
    responses((status_code = 200, description = "A page of orders", body = OrderPage))
)]
pub async fn list_orders(
    req: &mut Request,
    depot: &mut Depot,
) -> Result<Json<OrderPage>, OrderError> {
    let query: ListQuery = body::query(req)?;
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(OrderError::Validation(vec![FieldError::new(
            "limit",
            format!("must be between 1 and {MAX_PAGE}"),
        )]));
    }
    let state = state::<Arc<AppState>>(depot);
    let caller = caller(depot);
    let orders = state
        .orders
        .list_for_user(caller.user_id, query.cursor, limit)
        .await?;
    let next_cursor = (orders.len() == usize::try_from(limit).unwrap_or(usize::MAX))
        .then(|| orders.last().map(|order| order.id))
        .flatten();
    Ok(Json(OrderPage {
        items: orders.into_iter().map(OrderResponse::from).collect(),
        next_cursor,
    }))
}

/// One order of the caller's (any order, for an admin).
#[endpoint(
    tags("orders"),
    responses((status_code = 200, description = "The order", body = OrderResponse))
)]
pub async fn get_order(
    id: PathParam<i64>,
    depot: &mut Depot,
) -> Result<Json<OrderResponse>, OrderError> {
    let state = state::<Arc<AppState>>(depot);
    let order = visible(state.orders.find(id.into_inner()).await?, &actor(depot))?;
    Ok(Json(order.into()))
}
