//! `DELETE /products/{id}`: an admin removes a product.

use std::sync::Arc;

use salvo::http::StatusCode;
use salvo::prelude::*;
use shop_http::server::state;

use super::product_id;
use crate::cache::DELETED;
use crate::error::ProductError;
use crate::state::AppState;

/// Delete a product (admin).
///
/// Reservations already made for it stay valid for their orders; releasing them later returns
/// nothing to stock.
#[endpoint(
    tags("products"),
    parameters(
        ("id" = i64, Path, description = "Product id")
    ),
    responses((status_code = 204, description = "Deleted"))
)]
pub async fn delete_product(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ProductError> {
    let id = product_id(req)?;
    let state = state::<Arc<AppState>>(depot);
    if !state.products.delete(id).await? {
        return Err(ProductError::ProductNotFound);
    }
    state.caches.product_changed(id, DELETED).await;
    tracing::info!(product_id = id, "product deleted");
    res.status_code(StatusCode::NO_CONTENT);
    Ok(())
}
