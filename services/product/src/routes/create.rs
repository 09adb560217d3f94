//! `POST /products`: an admin adds a product.

use std::sync::Arc;

use salvo::http::StatusCode;
use salvo::oapi::ToSchema;
use salvo::prelude::*;
use serde::Deserialize;
use serde_json::value::RawValue;
use shop_http::body::{self, whole_number};
use shop_http::server::state;

use super::{ProductResponse, collect};
use crate::domain::{Description, Price, ProductName, Stock};
use crate::error::ProductError;
use crate::repository::NewProduct;
use crate::state::AppState;

/// A new product. Unknown fields are refused (422), so a misspelt field is never silently lost.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProductRequest {
    #[salvo(schema(value_type = ProductName))]
    pub name: String,
    /// Empty when left out.
    #[serde(default)]
    #[salvo(schema(value_type = Description))]
    pub description: String,
    /// Parsed from the JSON text itself, so no float ever rounds it.
    #[salvo(schema(value_type = Price))]
    pub price: Box<RawValue>,
    /// Units in stock.
    #[serde(deserialize_with = "whole_number::required")]
    #[salvo(schema(value_type = Stock))]
    pub quantity: i64,
}

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
