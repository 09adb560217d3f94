use std::sync::Arc;

use salvo::http::StatusCode;
use salvo::http::header::HeaderValue;
use salvo::oapi::schema::Object;
use salvo::oapi::{Components, RefOr, Schema, ToSchema};
use salvo::prelude::*;
use serde::Deserialize;
use service_runtime::auth::{Caller, caller};
use service_runtime::body::{self, whole_number};
use service_runtime::openapi;
use service_runtime::problem::{FieldError, Problem};
use service_runtime::server::state;
use uuid::Uuid;

use super::OrderResponse;
use crate::domain::{Quantity, total_price};
use crate::error::OrderError;
use crate::metrics::OutcomeLabels;
use crate::product_client::ProductError;
use crate::repository::{KeyClaim, NewOrder};
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrderRequest {
    /// A product of the catalogue (an unknown one is a 422).
    #[serde(deserialize_with = "whole_number::required")]
    #[salvo(schema(schema_with = product_id_schema))]
    pub product_id: i64,
    #[serde(deserialize_with = "whole_number::required")]
    #[salvo(schema(value_type = Quantity))]
    pub quantity: i64,
}

/// Ids are positive; `create_order` refuses anything else.
fn product_id_schema() -> Object {
    openapi::integer(1, i64::MAX).example(1)
}

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
    let quantity = Quantity::parse(request.quantity);
    let product_id = if request.product_id > 0 {
        Ok(request.product_id)
    } else {
        Err(FieldError::new("product_id", "must be a positive integer"))
    };
    let (product_id, quantity) = match (product_id, quantity) {
        (Ok(product_id), Ok(quantity)) => (product_id, quantity),
        (product_id, quantity) => {
            let errors = [product_id.err(), quantity.err()]
                .into_iter()
                .flatten()
                .collect();
            return Err(OrderError::Validation(errors));
        }
    };
    let key = idempotency_key(req)?;
    let state = state::<Arc<AppState>>(depot).clone();
    let caller = caller(depot).clone();

    if let Some(key) = key.as_deref() {
        let fingerprint = format!("product_id={product_id};quantity={}", quantity.get());
        match state
            .orders
            .claim_key(caller.user_id, key, &fingerprint)
            .await?
        {
            KeyClaim::Claimed => {}
            KeyClaim::Replay(order_id) => {
                let order = state
                    .orders
                    .find(order_id)
                    .await?
                    .ok_or(OrderError::NotFound)?;
                res.headers_mut()
                    .insert("idempotent-replayed", HeaderValue::from_static("true"));
                res.status_code(StatusCode::CREATED);
                res.render(Json(OrderResponse::from(order)));
                return Ok(());
            }
            KeyClaim::Mismatch => return Err(OrderError::KeyReused),
            KeyClaim::InProgress => return Err(OrderError::KeyInProgress),
        }
    }

    let outcome = place(&state, &caller, product_id, quantity, key.as_deref()).await;
    if outcome.is_err()
        && let Some(key) = key.as_deref()
        && let Err(error) = state.orders.drop_claim(caller.user_id, key).await
    {
        tracing::warn!(error = %error, "idempotency claim not dropped; it expires on its own");
    }
    let order = outcome?;
    res.status_code(StatusCode::CREATED);
    res.render(Json(order));
    Ok(())
}

async fn place(
    state: &AppState,
    caller: &Caller,
    product_id: i64,
    quantity: Quantity,
    key: Option<&str>,
) -> Result<OrderResponse, OrderError> {
    let reservation_id = Uuid::now_v7();
    let reservation = state
        .products
        .reserve(reservation_id, product_id, quantity)
        .await
        .map_err(|error| {
            let reason = match &error {
                ProductError::InsufficientStock(_) => "insufficient_stock",
                ProductError::NotFound(_) => "unknown_product",
                ProductError::Rejected(_) => "rejected",
                ProductError::Unavailable(_) => "unavailable",
            };
            state
                .metrics
                .reservations_failed
                .get_or_create(&OutcomeLabels { outcome: reason })
                .inc();
            match error {
                ProductError::NotFound(id) => OrderError::UnknownProduct(id),
                ProductError::InsufficientStock(reason) => OrderError::InsufficientStock(reason),
                ProductError::Rejected(reason) => OrderError::ProductRejected(reason),
                ProductError::Unavailable(reason) => OrderError::ProductUnavailable(reason),
            }
        })?;
    let new_order = NewOrder {
        user_id: caller.user_id,
        username: caller.username.clone(),
        product_id,
        product_name: reservation.product_name,
        unit_price: reservation.unit_price,
        quantity: quantity.get(),
        total_price: total_price(reservation.unit_price, quantity),
        reservation_id,
    };
    match state.orders.create(&new_order, key).await {
        Ok(order) => {
            state.metrics.orders_created.inc();
            state
                .metrics
                .revenue
                .inc_by(order.total_price.try_into().unwrap_or(0.0));
            tracing::info!(
                order_id = order.id,
                product_id,
                quantity = order.quantity,
                "order placed"
            );
            Ok(OrderResponse::from(order))
        }
        Err(error) => {
            // The stock is held for an order that does not exist: give it back.
            let releaser = state.releaser.clone();
            tokio::spawn(async move {
                if !releaser.release_orphan(reservation_id).await {
                    tracing::error!(%reservation_id, "reserved stock of an unsaved order could not be released");
                }
            });
            Err(error.into())
        }
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
