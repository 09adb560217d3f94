//! `GET /products/{id}`: one product, public, through the Redis cache.

use std::sync::Arc;

use salvo::http::header::{CONTENT_TYPE, HeaderValue};
use salvo::prelude::*;
use service_runtime::server::state;

use super::{ProductResponse, product_id};
use crate::error::ProductError;
use crate::state::AppState;

/// Get one product (public; served from the Redis cache when possible).
///
/// Never older than a product update or deletion that has returned.
#[endpoint(
    tags("products"),
    parameters(("id" = i64, Path, description = "Product id")),
    responses((status_code = 200, description = "The product", body = ProductResponse))
)]
pub async fn get_product(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ProductError> {
    let id = product_id(req)?;
    let state = state::<Arc<AppState>>(depot);
    let json = match state.cache.get(id).await {
        // The cached bytes are the response: no parsing on the hot path.
        Some(json) => json,
        None => {
            let product = state
                .products
                .find(id)
                .await?
                .ok_or(ProductError::ProductNotFound)?;
            let json = serde_json::to_vec(&ProductResponse::from(&product))?;
            state.cache.fill(id, product.version, &json).await;
            json
        }
    };
    state.metrics.product_viewed();
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res.body(json);
    Ok(())
}
