//! The Product Service over HTTP: the real service on a random port against a fresh PostgreSQL
//! database, the shared Redis under a key prefix of its own (or a private redis-server for the
//! fault tests) and the real User Service for tokens.

mod auth;
mod bounds;
mod cache;
mod crud;
mod local_copies;
mod pagination;
mod platform;
mod reservations;
mod resilience;
mod sweep;
mod validation;

use reqwest::Response;
use serde_json::Value;
use test_support::{ProductServiceHandle, UserServiceHandle};

/// A User Service, a Product Service using it, and an admin's token.
pub struct Shop {
    pub users: UserServiceHandle,
    pub products: ProductServiceHandle,
    pub admin: String,
}

impl Shop {
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    pub async fn start_with(extra: &[(&'static str, &str)]) -> Self {
        let users = UserServiceHandle::start().await;
        let products = ProductServiceHandle::start_with(&users, extra).await;
        let (_, admin) = users.admin().await;
        Self {
            users,
            products,
            admin,
        }
    }

    /// Sends `body` with `method` to `path` as the admin.
    pub async fn admin_json(&self, method: reqwest::Method, path: &str, body: &Value) -> Response {
        self.products
            .client
            .request(method, self.products.url(path))
            .bearer_auth(&self.admin)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn get_json(&self, path: &str) -> Value {
        let response = self.products.get(path).await;
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.unwrap()
    }
}

pub use test_support::{assert_problem, assert_problem_type};

/// A connection to a Redis server, to look at what the service cached.
pub async fn redis_connection(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}
