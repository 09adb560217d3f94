//! Fifty customers buy the last ten units at once, through the gateway, over two order and two
//! product replicas: exactly ten orders are accepted, the forty others get 409
//! `insufficient-stock`, and the databases agree with the answers: ten order rows for the
//! product, ten live reservations, and a stock of 0.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use test_infra::webhook_sink::WebhookSink;

use crate::edge::client_from;
use crate::harness::Cluster;

const STOCK: i64 = 10;
const BUYERS: usize = 50;
/// The User Service takes 10 registrations an hour from one address.
const CUSTOMERS_PER_ADDRESS: usize = 10;

/// What one buyer got back: the status and the problem type of a refusal.
async fn buy(cluster: &Cluster, token: &str, product: i64) -> (u16, String) {
    let response = cluster
        .client
        .post(cluster.url("/orders"))
        .bearer_auth(token)
        .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
        .json(&json!({"product_id": product, "quantity": 1}))
        .send()
        .await
        .expect("the gateway answers");
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or_default();
    let kind = body["type"].as_str().unwrap_or_default().to_owned();
    (status, kind)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_buyers_of_the_last_ten_units_get_exactly_ten_orders() {
    let _serial = crate::harness::SERIAL.lock().await;
    let sink = WebhookSink::start().await;
    let cluster = Cluster::start(&sink.url).await;
    let admin = cluster.admin_token().await;
    let product = cluster.product(&admin, STOCK).await;
    let registrations = (0..BUYERS).map(|n| {
        let client = client_from(
            &cluster,
            &format!("127.0.0.{}", 60 + n / CUSTOMERS_PER_ADDRESS),
        );
        let cluster = &cluster;
        async move { cluster.customer_from(&client).await.1 }
    });
    let buyers = futures_util::future::join_all(registrations).await;

    // Every buyer at once, spread by the gateway over both order replicas, which reserve over
    // both product replicas.
    let answers =
        futures_util::future::join_all(buyers.iter().map(|token| buy(&cluster, token, product)))
            .await;

    // What the replicas stored first, then what they answered.
    let product_row = |sql: &str| sql.replace("$product", &product.to_string());
    assert_eq!(
        cluster
            .sql_i64(
                "orders",
                &product_row("SELECT count(*) FROM orders WHERE product_id = $product")
            )
            .await,
        STOCK,
        "order rows for the product"
    );
    assert_eq!(
        cluster
            .sql_i64(
                "orders",
                &product_row(
                    "SELECT count(DISTINCT user_id) FROM orders WHERE product_id = $product"
                )
            )
            .await,
        STOCK,
        "customers with an order: one unit each"
    );
    assert_eq!(
        cluster
            .sql_i64(
                "products",
                &product_row(
                    "SELECT count(*) FROM reservations WHERE product_id = $product \
                     AND status IN ('reserved', 'confirmed')"
                )
            )
            .await,
        STOCK,
        "reservations holding stock"
    );
    assert_eq!(
        cluster
            .sql_i64(
                "products",
                &product_row("SELECT quantity::BIGINT FROM products WHERE id = $product")
            )
            .await,
        0,
        "the stock column"
    );
    let mut by_answer: BTreeMap<(u16, String), usize> = BTreeMap::new();
    for answer in answers {
        *by_answer.entry(answer).or_default() += 1;
    }
    let expected = BTreeMap::from([
        ((201, String::new()), STOCK as usize),
        (
            (409, "urn:problem:insufficient-stock".to_owned()),
            BUYERS - STOCK as usize,
        ),
    ]);
    assert_eq!(
        by_answer, expected,
        "answers by (status, problem type) to {BUYERS} buyers of {STOCK} units"
    );

    let shown: Value = cluster.get_json(&format!("/products/{product}")).await;
    assert_eq!(shown["quantity"], 0, "the stock the API shows: {shown}");
}
