//! `POST /products`: an admin adds a product.

use std::sync::Arc;

use salvo::http::StatusCode;
use salvo::prelude::*;
use shop_http::body::{self};
use shop_http::server::state;

use super::{ProductResponse, collect};
use crate::domain::{Description, Price, ProductName, Stock};
use crate::error::ProductError;
use crate::repository::NewProduct;
use crate::state::AppState;

pub use shop_contract::product::CreateProductRequest;

/// Add a product to the catalogue (admin).
#[endpoint(
    tags("products"),
    request_body = CreateProductRequest,
    responses((status_code = 201, description = "Product created", body = ProductResponse))
)]
pub async fn create_product(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ProductError> {
    let request: CreateProductRequest = body::json(req).await?;
    let mut errors = Vec::new();
    let name = collect(ProductName::parse(request.name), &mut errors);
    let description = collect(Description::parse(request.description), &mut errors);
    let price = collect(Price::from_json("price", &request.price), &mut errors);
    let quantity = collect(Stock::parse(request.quantity), &mut errors);
    let (Some(name), Some(description), Some(price), Some(quantity)) =
        (name, description, price, quantity)
    else {
        return Err(ProductError::Validation(errors));
    };
    let state = state::<Arc<AppState>>(depot);
    let product = state
        .products
        .insert(&NewProduct {
            name,
            description,
            price,
            quantity,
        })
        .await?;
    state.caches.product_added().await;
    tracing::info!(product_id = product.id, "product created");
    res.status_code(StatusCode::CREATED);
    res.render(Json(ProductResponse::from(&product)));
    Ok(())
}
