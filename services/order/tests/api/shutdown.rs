//! SIGTERM to the real `order-service` binary under the production profile: an order being
//! placed when the signal arrives is placed and answered whole, new connections are refused
//! while it drains, and the process exits 0.
//!
//! The order in flight waits on the Product Service, whose answers a proxy holds back for as
//! long as the test wants, whatever the machine's speed.

use serde_json::{Value, json};
use test_infra::process::ServiceProcess;
use test_infra::proxy::TcpProxy;
use test_support::broker::{ExchangeCleanup, service_url};
use test_support::{TEST_SERVICE_TOKEN, TestDatabase, wait_until};

use crate::Shop;

/// Longer than anything the test waits for: neither the drain deadline nor the Product
/// Service timeout is what ends the order in flight.
const PATIENT_SECS: &str = "300";

#[tokio::test]
async fn sigterm_lets_the_order_in_flight_finish_and_refuses_new_connections() {
    let shop = Shop::start().await;
    let product = shop.product(5).await;
    let products = TcpProxy::start(shop.products.address).await;
    let database = TestDatabase::new("orders_sigterm");
    let exchange = ExchangeCleanup {
        exchange: format!("test.order_events.{}", uuid::Uuid::new_v4().simple()),
    };
    let service = ServiceProcess::start(
        env!("CARGO_BIN_EXE_order-service"),
        &[
            ("DATABASE_URL", database.url.clone()),
            ("USER_SERVICE_URL", shop.users.base_url.clone()),
            (
                "PRODUCT_SERVICE_URL",
                format!("http://{}", products.address),
            ),
            ("PRODUCT_TIMEOUT_MS", format!("{PATIENT_SECS}000")),
            ("SERVICE_TOKEN", TEST_SERVICE_TOKEN.clone()),
            ("AMQP_URL", service_url().to_owned()),
            ("ORDER_EVENTS_EXCHANGE", exchange.exchange.clone()),
            ("SHUTDOWN_TIMEOUT_SECS", PATIENT_SECS.to_owned()),
        ],
    )
    .await;

    products.hold_answers();
    // A client of its own, without a timeout: the order is held as long as the test wants.
    let placing = tokio::spawn({
        let url = service.url("/orders");
        let token = shop.customer.clone();
        async move {
            let client = reqwest::Client::builder().no_proxy().build().unwrap();
            let response = client
                .post(url)
                .bearer_auth(token)
                .json(&json!({"product_id": product, "quantity": 2}))
                .send()
                .await
                .expect("the order in flight is answered");
            let status = response.status();
            let body: Value = response.json().await.expect("a whole JSON body");
            (status, body)
        }
    });
    service.wait_in_flight(1.0).await;

    service.terminate().await;
    wait_until(
        "new connections to be refused",
        std::time::Duration::from_secs(60),
        || async { service.refuses_connections().await.then_some(()) },
    )
    .await;
    assert!(!placing.is_finished(), "the order is still held");

    products.release_answers();
    let (status, order) = placing.await.expect("the placing task ends");
    assert_eq!(status, 201, "{order}");
    assert_eq!(order["status"], "pending");
    assert_eq!(order["quantity"], 2);
    assert_eq!(
        shop.products.stock(product).await,
        3,
        "the stock was reserved"
    );
    let exit = service.exit_status().await;
    assert!(exit.success(), "{exit}");
}
