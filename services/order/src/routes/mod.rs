//! HTTP routes of the Order Service. Every route needs a bearer token; a user sees and
//! changes only their own orders (another user's order is a 404, not a 403, so its existence
//! is not revealed), admins see all and run fulfilment.

mod change;
mod create;
mod read;

use std::sync::Arc;

use salvo::{Depot, Router};
use shop_auth_client::{AuthClient, Authenticate, caller};
use shop_http::server::{Provide, route};

use crate::commands::CommandError;
use crate::domain::{Actor, Order};
use crate::error::OrderError;
use crate::state::AppState;

pub use change::UpdateOrderRequest;
pub use create::CreateOrderRequest;
pub use read::OrderPage;

pub fn router(state: Arc<AppState>, auth: Arc<AuthClient>) -> Router {
    Authenticate::user(auth)
        .guard(Router::new().hoop(Provide(state)))
        .push(
            route("/orders")
                .post(create::create_order)
                .get(read::list_orders),
        )
        .push(
            route("/orders/{id}")
                .get(read::get_order)
                .put(change::update_order)
                .delete(change::delete_order),
        )
}

pub use shop_contract::order::Order as OrderResponse;

impl From<Order> for OrderResponse {
    fn from(order: Order) -> Self {
        Self {
            id: order.id,
            user_id: order.user_id,
            product_id: order.product_id,
            product_name: order.product_name,
            unit_price: order.unit_price,
            quantity: order.quantity,
            total_price: order.total_price,
            status: order.status,
            created_at: order.created_at,
            updated_at: order.updated_at,
        }
    }
}

/// The caller the bearer token named, as the domain sees who acts.
fn actor(depot: &Depot) -> Actor {
    let caller = caller(depot);
    Actor {
        user_id: caller.user_id,
        username: caller.username.clone(),
        is_admin: caller.is_admin(),
    }
}

/// The order if `actor` may see it: its owner or an admin. Anyone else gets NotFound.
fn visible(order: Option<Order>, actor: &Actor) -> Result<Order, OrderError> {
    order
        .filter(|order| order.visible_to(actor))
        .ok_or(CommandError::NotFound.into())
}
