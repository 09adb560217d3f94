//! `POST /products`: an admin adds a product.

use std::sync::Arc;

use salvo::http::StatusCode;
use salvo::oapi::ToSchema;
use salvo::prelude::*;
use serde::Deserialize;
use serde_json::value::RawValue;
use service_runtime::body;
use service_runtime::server::state;

use super::{ProductResponse, collect};
use crate::domain::{Description, Price, ProductName, Stock};
use crate::error::ProductError;
use crate::repository::NewProduct;
use crate::state::AppState;

/// A new product. Unknown fields are refused (422), so a misspelt field is never silently lost.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProductRequest {
    /// 1–200 characters, not blank; stored exactly as sent.
    pub name: String,
    /// Up to 5,000 characters; empty when left out.
    #[serde(default)]
    pub description: String,
    /// More than 0, at most 2 decimals, at most 9999999999.99; a JSON string (preferred) or
    /// number, parsed exactly.
    #[salvo(schema(value_type = String, example = "19.99"))]
    pub price: Box<RawValue>,
    /// Units in stock: 0 to 1,000,000,000.
    pub quantity: i64,
}

/// Add a product to the catalogue (admin).
#[endpoint(
    tags("products"),
    parameters(("Authorization" = String, Header, description = "Bearer <access token of an admin>")),
    request_body = CreateProductRequest,
    responses((status_code = 201, description = "Product created", body = ProductResponse)),
    status_codes(201, 400, 401, 403, 413, 415, 422, 500, 503)
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
    state.product_added().await;
    tracing::info!(product_id = product.id, "product created");
    res.status_code(StatusCode::CREATED);
    res.render(Json(ProductResponse::from(&product)));
    Ok(())
}
