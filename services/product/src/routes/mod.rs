//! HTTP routes of the Product Service: the public catalogue, its admin writes and the internal
//! stock reservations. The runtime adds `/health*`, `/metrics`, `/openapi.json` and `/docs`.

mod create;
mod delete;
mod get;
mod list;
mod reservations;
mod update;

use std::sync::Arc;

use salvo::prelude::*;
use shop_auth_client::{AuthClient, Authenticate};
use shop_http::problem::FieldError;
use shop_http::server::{Provide, route};
use shop_http::service_auth::RequireServiceToken;

use crate::repository::ProductRecord;
use crate::state::AppState;

pub use create::CreateProductRequest;
pub use list::{ListQuery, ProductPage};
pub use reservations::{ReservationRequest, ReservationResponse};
pub use update::UpdateProductRequest;

pub use shop_contract::product::Product as ProductResponse;

impl From<&ProductRecord> for ProductResponse {
    fn from(product: &ProductRecord) -> Self {
        Self {
            id: product.id,
            name: product.name.clone(),
            description: product.description.clone(),
            price: product.price,
            quantity: product.quantity,
            created_at: product.created_at,
            updated_at: product.updated_at,
        }
    }
}

pub fn router(
    state: Arc<AppState>,
    auth: Arc<AuthClient>,
    internal: RequireServiceToken,
) -> Router {
    // A product's page first: the most frequent request stops at the first route it tries.
    Router::new()
        .hoop(Provide(state))
        .push(
            route("/products/{id}").get(get::get_product).push(
                Authenticate::admin(auth.clone()).guard(
                    Router::new()
                        .put(update::update_product)
                        .delete(delete::delete_product),
                ),
            ),
        )
        .push(
            route("/products")
                .get(list::list_products)
                .push(Authenticate::admin(auth).guard(Router::new().post(create::create_product))),
        )
        .push(
            internal
                .clone()
                .guard(route("/internal/reservations").post(reservations::reserve_stock)),
        )
        .push(internal.clone().guard(
            route("/internal/reservations/{reservation_id}").delete(reservations::release_stock),
        ))
        .push(
            internal.guard(
                route("/internal/reservations/{reservation_id}/confirmation")
                    .post(reservations::confirm_reservation),
            ),
        )
}

/// The `{id}` of the path: a positive integer, or 404 (no product has any other id).
fn product_id(req: &Request) -> Result<i64, crate::error::ProductError> {
    req.params()
        .get("id")
        .and_then(|raw| raw.parse::<i64>().ok())
        .filter(|id| *id > 0)
        .ok_or(crate::error::ProductError::ProductNotFound)
}

/// Collects every field's verdict, so one response lists all that is wrong.
fn collect<T>(result: Result<T, FieldError>, errors: &mut Vec<FieldError>) -> Option<T> {
    result.map_err(|error| errors.push(error)).ok()
}
