//! The Order Service over HTTP with the real User and Product services, PostgreSQL, Redis and
//! RabbitMQ, each test on fresh databases and an exchange of its own.

mod access;
mod create;
mod events;
mod housekeeping;
mod lifecycle;
mod relay;
mod resilience;
mod shutdown;
mod startup;
mod write_rate;

use serde_json::Value;
use test_support::{OrderServiceHandle, ProductServiceHandle, UserServiceHandle};

pub use test_support::{assert_problem, assert_problem_type};

/// All three services, an admin and a customer.
pub struct Shop {
    pub users: UserServiceHandle,
    pub products: ProductServiceHandle,
    pub orders: OrderServiceHandle,
    pub admin: String,
    pub customer: String,
}

impl Shop {
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    pub async fn start_with(order_settings: &[(&'static str, &str)]) -> Self {
        let users = UserServiceHandle::start().await;
        let products = ProductServiceHandle::start(&users).await;
        let orders = OrderServiceHandle::start_with(&users, &products, order_settings).await;
        let (_, admin) = users.admin().await;
        let (_, customer) = users.customer().await;
        Self {
            users,
            products,
            orders,
            admin,
            customer,
        }
    }

    /// A product with `quantity` units at 19.99.
    pub async fn product(&self, quantity: i64) -> i64 {
        self.products
            .product_with_stock(&self.admin, "Walnut desk", quantity)
            .await
    }

    /// Places an order as the customer; panics unless 201.
    pub async fn order(&self, product_id: i64, quantity: i64) -> Value {
        self.orders
            .place_order(&self.customer, product_id, quantity)
            .await
    }
}
