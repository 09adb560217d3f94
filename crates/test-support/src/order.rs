//! The Order Service started in-process for tests, against a fresh database, a
//! [`UserServiceHandle`] and a [`ProductServiceHandle`], publishing to an exchange of its own.

use std::sync::Arc;

use order_outbox::OutboxRelay;
use order_service::config::OrderServiceConfig;
use order_service::state::AppState;
use serde_json::Value;
use shop_config::ServiceConfig as _;
use shop_config::Settings;

use crate::broker::{ExchangeCleanup, service_url};
use crate::{
    ProductServiceHandle, TEST_SERVICE_TOKEN, TestDatabase, TestService, UserServiceHandle, init,
};

/// What a running Order Service adds to its handle.
#[derive(Debug)]
pub struct Orders {
    pub state: Arc<AppState>,
    pub relay: Arc<OutboxRelay>,
    /// The topic exchange this instance publishes to, unique per test.
    pub exchange: String,
    pub database: TestDatabase,
    /// Deletes `exchange` from the shared broker when these parts are dropped.
    pub exchange_cleanup: ExchangeCleanup,
}

/// The Order Service running in this process.
pub type OrderServiceHandle = TestService<Orders>;

/// Settings for an Order Service under test; `extra` overrides or adds keys.
pub fn order_service_settings(
    database: &TestDatabase,
    users: &UserServiceHandle,
    products: &ProductServiceHandle,
    exchange: &str,
    extra: &[(&'static str, &str)],
) -> Settings {
    crate::service_settings(
        vec![
            ("DATABASE_URL", database.url.clone()),
            ("USER_SERVICE_URL", users.base_url.clone()),
            ("PRODUCT_SERVICE_URL", products.base_url.clone()),
            ("SERVICE_TOKEN", TEST_SERVICE_TOKEN.clone()),
            ("AMQP_URL", service_url().into()),
            ("AMQP_TIMEOUT_MS", "2000".into()),
            ("ORDER_EVENTS_EXCHANGE", exchange.into()),
            ("RELEASE_RETRY_INTERVAL_MS", "200".into()),
        ]
        .into_iter()
        // Tests place many orders as one customer; the rate's own tests set it low. Left out
        // when `extra` sets it: a repeated key in one `Settings::from_pairs` keeps the first.
        .chain(
            (!extra.iter().any(|(key, _)| *key == "ORDER_WRITES_PER_USER"))
                .then(|| ("ORDER_WRITES_PER_USER", "1000000".to_owned())),
        )
        .collect(),
        extra,
    )
}

impl OrderServiceHandle {
    pub async fn start(users: &UserServiceHandle, products: &ProductServiceHandle) -> Self {
        Self::start_with(users, products, &[]).await
    }

    pub async fn start_with(
        users: &UserServiceHandle,
        products: &ProductServiceHandle,
        extra: &[(&'static str, &str)],
    ) -> Self {
        let database = TestDatabase::borrow().await;
        let exchange = format!("test.order_events.{}", uuid::Uuid::new_v4().simple());
        let exchange_cleanup = ExchangeCleanup {
            exchange: exchange.clone(),
        };
        let app = Self::build(users, products, &database, &exchange, extra).await;
        let order_service::Exposed { state, relay } = app.exposed().clone();
        let parts = Orders {
            state,
            relay,
            exchange,
            database,
            exchange_cleanup,
        };
        Self::spawn(app, parts)
    }

    /// Another instance on the database and exchange of `first` (running or stopped): a
    /// replica, or the service restarted. Database and exchange stay with `first`'s parts,
    /// which must outlive this handle.
    pub async fn start_beside(
        users: &UserServiceHandle,
        products: &ProductServiceHandle,
        first: &Orders,
        extra: &[(&'static str, &str)],
    ) -> TestService<Arc<OutboxRelay>> {
        let app = Self::build(users, products, &first.database, &first.exchange, extra).await;
        let relay = app.exposed().relay.clone();
        TestService::spawn(app, relay)
    }

    async fn build(
        users: &UserServiceHandle,
        products: &ProductServiceHandle,
        database: &TestDatabase,
        exchange: &str,
        extra: &[(&'static str, &str)],
    ) -> order_service::Application {
        init();
        let config = OrderServiceConfig::from_settings(order_service_settings(
            database, users, products, exchange, extra,
        ))
        .expect("test configuration is valid");
        order_service::build(config)
            .await
            .expect("order service starts")
    }

    /// `POST /orders` as `token`, with an Idempotency-Key when given.
    pub async fn place(&self, token: &str, body: &Value, key: Option<&str>) -> reqwest::Response {
        let mut request = self
            .client
            .post(self.url("/orders"))
            .bearer_auth(token)
            .json(body);
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        request
            .send()
            .await
            .expect("request reaches the order service")
    }

    /// Orders `quantity` units of `product_id` as `token` and returns the order; panics unless
    /// the service answers 201.
    pub async fn place_order(&self, token: &str, product_id: i64, quantity: i64) -> Value {
        let body = serde_json::json!({"product_id": product_id, "quantity": quantity});
        let response = self.place(token, &body, None).await;
        let status = response.status();
        let order: Value = response.json().await.expect("an order or problem JSON");
        assert_eq!(
            status, 201,
            "ordering {quantity} of product {product_id}: {order}"
        );
        order
    }

    /// `GET path` as `token`.
    pub async fn get_as(&self, token: &str, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request reaches the order service")
    }

    pub async fn put(&self, token: &str, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .put(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("request reaches the order service")
    }

    pub async fn delete(&self, token: &str, path: &str) -> reqwest::Response {
        self.client
            .delete(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request reaches the order service")
    }
}
