use std::sync::Arc;

use salvo::http::StatusCode;
use salvo::http::header::HeaderValue;
use salvo::oapi::{Components, RefOr, Schema, ToSchema};
use salvo::prelude::*;
use shop_http::body::{self};
use shop_http::openapi;
use shop_http::problem::{FieldError, Problem};
use shop_http::server::state;

use super::{OrderResponse, actor};
use crate::commands::{PlaceOrder, Placed, place_order};
use crate::domain::Quantity;
use crate::error::OrderError;
use crate::state::AppState;

pub use shop_contract::order::CreateOrderRequest;

/// The `Idempotency-Key` header: 1 to 255 visible ASCII characters (`!` to `~`).
struct IdempotencyKey;

impl IdempotencyKey {
    const MAX_LEN: usize = 255;

    fn valid(key: &str) -> bool {
        (1..=Self::MAX_LEN).contains(&key.len()) && key.bytes().all(|byte| byte.is_ascii_graphic())
    }
}

impl ToSchema for IdempotencyKey {
    fn to_schema(_: &mut Components) -> RefOr<Schema> {
        openapi::text(1, Self::MAX_LEN)
            .pattern("^[!-~]*$")
            .example("5f0c7a3e-8d1b-4c2a-9e4f-2b6d8a1c3e5f")
            .into()
    }
}

/// Place an order.
///
/// Reserves the stock in the Product Service (so concurrent orders never oversell), snapshots
/// the product's name and price, stores the order and its `order.created` event together.
/// With an `Idempotency-Key` header, a retried request returns the original order (header
/// `Idempotent-Replayed: true`) and creates nothing new.
#[endpoint(
    tags("orders"),
    request_body = CreateOrderRequest,
    parameter("Idempotency-Key" = Option<IdempotencyKey>, Header, description = "Makes retries safe: the same key and body return the original order."),
    responses((status_code = 201, description = "Order placed", body = OrderResponse))
)]
pub async fn create_order(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), OrderError> {
    let request: CreateOrderRequest = body::json(req).await?;
    let command = validate(request, idempotency_key(req))?;
    let state = state::<Arc<AppState>>(depot);
    let order = match place_order(state, &actor(depot), command).await? {
        Placed::Created(order) => order,
        Placed::Replayed(order) => {
            res.headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            order
        }
    };
    res.status_code(StatusCode::CREATED);
    res.render(Json(OrderResponse::from(order)));
    Ok(())
}

/// The command, or every invalid field at once; then the key header's own error.
fn validate(
    request: CreateOrderRequest,
    idempotency_key: Result<Option<String>, OrderError>,
) -> Result<PlaceOrder, OrderError> {
    let quantity = Quantity::parse(request.quantity).map_err(FieldError::from);
    let product_id = if request.product_id > 0 {
        Ok(request.product_id)
    } else {
        Err(FieldError::new("product_id", "must be a positive integer"))
    };
    match (product_id, quantity) {
        (Ok(product_id), Ok(quantity)) => Ok(PlaceOrder {
            product_id,
            quantity,
            idempotency_key: idempotency_key?,
        }),
        (product_id, quantity) => Err(OrderError::Validation(
            [product_id.err(), quantity.err()]
                .into_iter()
                .flatten()
                .collect(),
        )),
    }
}

/// The Idempotency-Key header: 1 to 255 visible ASCII characters.
fn idempotency_key(req: &Request) -> Result<Option<String>, OrderError> {
    let Some(value) = req.headers().get("idempotency-key") else {
        return Ok(None);
    };
    let key = value.to_str().ok().filter(|key| IdempotencyKey::valid(key));
    match key {
        Some(key) => Ok(Some(key.to_owned())),
        None => Err(OrderError::Request(
            Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid-idempotency-key",
                "Invalid Idempotency-Key",
            )
            .detail("Use 1 to 255 visible ASCII characters, e.g. a UUID."),
        )),
    }
}
