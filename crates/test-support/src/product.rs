//! The Product Service started in-process for tests, against a fresh database, the shared
//! Redis (under a key prefix of its own) and a [`UserServiceHandle`] for authentication.

use std::sync::Arc;
use std::time::Duration;

use product_service::config::ProductServiceConfig;
use product_service::state::AppState;
use redis::TypedCommands;
use serde_json::{Value, json};
use shop_config::ServiceConfig as _;
use shop_config::Settings;
use shop_http::service_auth::SERVICE_TOKEN_HEADER;

use crate::{REDIS_URL, TEST_SERVICE_TOKEN, TestDatabase, TestService, UserServiceHandle, init};

/// What a running Product Service adds to its handle.
#[derive(Debug)]
pub struct Products {
    pub state: Arc<AppState>,
    /// Put before every cache key, so tests sharing Redis never see each other's entries.
    pub cache_key_prefix: String,
    pub database: TestDatabase,
    _cache_keys: RedisPrefixCleanup,
}

/// Deletes every key under `prefix` in the shared Redis when dropped: what a test's services
/// left there (a Product Service's entries and tombstones, listing pages and
/// `products:generation`, which has no expiry; a cluster's throttle counts and sessions). A run
/// of the suite would otherwise leave hundreds behind.
#[derive(Debug)]
pub struct RedisPrefixCleanup {
    pub prefix: String,
}

impl Drop for RedisPrefixCleanup {
    fn drop(&mut self) {
        // Synchronous and short: a drop cannot await, and loopback Redis answers in microseconds.
        let cleanup = || -> redis::RedisResult<()> {
            let client = redis::Client::open(REDIS_URL)?;
            let mut redis = client.get_connection_with_timeout(Duration::from_secs(1))?;
            redis.set_read_timeout(Some(Duration::from_secs(2)))?;
            let keys = redis
                .scan_match::<_, String>(format!("{}*", self.prefix))?
                .collect::<Result<Vec<String>, _>>()?;
            if !keys.is_empty() {
                redis::cmd("DEL").arg(&keys).exec(&mut redis)?;
            }
            Ok(())
        };
        if let Err(error) = cleanup() {
            tracing::warn!(%error, prefix = %self.prefix, "test Redis keys not deleted");
        }
    }
}

/// The Product Service running in this process.
pub type ProductServiceHandle = TestService<Products>;

/// Settings for a Product Service under test; `extra` overrides or adds keys.
pub fn product_service_settings(
    database: &TestDatabase,
    users: &UserServiceHandle,
    cache_key_prefix: &str,
    extra: &[(&'static str, &str)],
) -> Settings {
    crate::service_settings(
        vec![
            ("DATABASE_URL", database.url.clone()),
            ("REDIS_URL", REDIS_URL.into()),
            ("CACHE_KEY_PREFIX", cache_key_prefix.into()),
            ("USER_SERVICE_URL", users.base_url.clone()),
            ("SERVICE_TOKEN", TEST_SERVICE_TOKEN.clone()),
        ],
        extra,
    )
}

impl ProductServiceHandle {
    pub async fn start(users: &UserServiceHandle) -> Self {
        Self::start_with(users, &[]).await
    }

    pub async fn start_with(users: &UserServiceHandle, extra: &[(&'static str, &str)]) -> Self {
        let database = TestDatabase::borrow().await;
        let cache_key_prefix = format!("test-{}:", uuid::Uuid::new_v4().simple());
        Self::start_on(users, database, cache_key_prefix, extra).await
    }

    /// A service on a given database (created at start if missing) and cache key prefix: how a
    /// test starts a second replica, or a service on a database recreated under the same name.
    pub async fn start_on(
        users: &UserServiceHandle,
        database: TestDatabase,
        cache_key_prefix: String,
        extra: &[(&'static str, &str)],
    ) -> Self {
        init();
        let settings = product_service_settings(&database, users, &cache_key_prefix, extra);
        let config =
            ProductServiceConfig::from_settings(settings).expect("test configuration is valid");
        let app = product_service::build(config)
            .await
            .expect("product service starts");
        let state = app.exposed().clone();
        let parts = Products {
            state,
            _cache_keys: RedisPrefixCleanup {
                prefix: cache_key_prefix.clone(),
            },
            cache_key_prefix,
            database,
        };
        Self::spawn(app, parts)
    }

    /// The Redis key product `id` is cached under.
    pub fn cache_key(&self, id: i64) -> String {
        self.state.caches.entries.key(id)
    }

    /// Units of product `id` in stock, as `GET /products/{id}` shows them.
    pub async fn stock(&self, id: i64) -> i64 {
        let product = self.get_json(&format!("/products/{id}")).await;
        product["quantity"]
            .as_i64()
            .unwrap_or_else(|| panic!("product {id} with a quantity: {product}"))
    }

    /// Creates a product as `admin_token`; panics unless the service answers 201.
    pub async fn create_product(&self, admin_token: &str, body: &Value) -> Value {
        let response = self
            .client
            .post(self.url("/products"))
            .bearer_auth(admin_token)
            .json(body)
            .send()
            .await
            .expect("request reaches the product service");
        assert_eq!(response.status(), 201, "creating {body}");
        response.json().await.expect("product JSON")
    }

    /// A product named `name` with `quantity` units at 19.99; returns its id.
    pub async fn product_with_stock(&self, admin_token: &str, name: &str, quantity: i64) -> i64 {
        let product = self
            .create_product(
                admin_token,
                &json!({"name": name, "price": "19.99", "quantity": quantity}),
            )
            .await;
        product["id"].as_i64().expect("product id")
    }

    /// `POST /internal/reservations` with the service credential.
    pub async fn reserve(
        &self,
        reservation_id: uuid::Uuid,
        product_id: i64,
        quantity: i64,
    ) -> reqwest::Response {
        self.client
            .post(self.url("/internal/reservations"))
            .header(SERVICE_TOKEN_HEADER, TEST_SERVICE_TOKEN.as_str())
            .json(&json!({
                "reservation_id": reservation_id,
                "product_id": product_id,
                "quantity": quantity,
            }))
            .send()
            .await
            .expect("request reaches the product service")
    }

    /// `DELETE /internal/reservations/{id}` with the service credential.
    pub async fn release(&self, reservation_id: uuid::Uuid) -> reqwest::Response {
        self.client
            .delete(self.url(&format!("/internal/reservations/{reservation_id}")))
            .header(SERVICE_TOKEN_HEADER, TEST_SERVICE_TOKEN.as_str())
            .send()
            .await
            .expect("request reaches the product service")
    }
}
