//! `PUT /products/{id}`: an admin changes some fields of a product.

use std::sync::Arc;

use salvo::prelude::*;
use shop_http::body::{self};
use shop_http::problem::FieldError;
use shop_http::server::state;

use super::{ProductResponse, collect, product_id};
use crate::domain::{Description, Price, ProductName, Stock};
use crate::error::ProductError;
use crate::repository::ProductChanges;
use crate::state::AppState;

pub use shop_contract::product::UpdateProductRequest;

/// Change a product (admin).
///
/// Once this has returned, no read returns the previous values, from the cache or otherwise.
#[endpoint(
    tags("products"),
    parameters(
        ("id" = i64, Path, description = "Product id")
    ),
    request_body = UpdateProductRequest,
    responses((status_code = 200, description = "The updated product", body = ProductResponse))
)]
pub async fn update_product(
    req: &mut Request,
    depot: &mut Depot,
) -> Result<Json<ProductResponse>, ProductError> {
    let id = product_id(req)?;
    let request: UpdateProductRequest = body::json(req).await?;
    let mut errors = Vec::new();
    let changes = ProductChanges {
        name: request
            .name
            .and_then(|name| collect(ProductName::parse(name), &mut errors)),
        description: request
            .description
            .and_then(|text| collect(Description::parse(text), &mut errors)),
        price: request
            .price
            .and_then(|raw| collect(Price::from_json("price", &raw), &mut errors)),
        quantity: request
            .quantity
            .and_then(|quantity| collect(Stock::parse(quantity), &mut errors)),
    };
    if !errors.is_empty() {
        return Err(ProductError::Validation(errors));
    }
    if changes.name.is_none()
        && changes.description.is_none()
        && changes.price.is_none()
        && changes.quantity.is_none()
    {
        return Err(FieldError::new(
            "",
            "send at least one of name, description, price, quantity",
        )
        .into());
    }
    let state = state::<Arc<AppState>>(depot);
    let product = state
        .products
        .update(id, &changes)
        .await?
        .ok_or(ProductError::ProductNotFound)?;
    state.caches.product_changed(id, product.version).await;
    tracing::info!(
        product_id = id,
        version = product.version,
        "product updated"
    );
    Ok(Json(ProductResponse::from(&product)))
}
