//! The per-customer rate of order writes: refused with 429 before any stock moves, per
//! customer, not charged for an idempotent replay, and shared by replicas on one database.

use reqwest::Response;
use serde_json::{Value, json};
use test_support::OrderServiceHandle;

use crate::{Shop, assert_problem};

/// A window far longer than any test, so the count cannot roll over while one runs (windows are
/// aligned to the epoch, and the next multiple of a billion seconds is in 2033).
const WINDOW: &str = "1000000000";

async fn shop_allowing(writes: &'static str) -> Shop {
    Shop::start_with(&[
        ("ORDER_WRITES_PER_USER", writes),
        ("ORDER_WRITE_WINDOW_SECS", WINDOW),
    ])
    .await
}

fn one_of(product: i64) -> Value {
    json!({"product_id": product, "quantity": 1})
}

/// Asserts a 429 with a Retry-After of whole seconds within the window.
async fn assert_rate_limited(response: Response) {
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=WINDOW.parse().unwrap()).contains(&retry_after));
    let problem = assert_problem(response, 429).await;
    assert_eq!(problem["title"], "Too many order changes");
}

#[tokio::test]
async fn writes_beyond_the_rate_are_refused_before_any_stock_moves() {
    let shop = shop_allowing("3").await;
    let product = shop.product(10).await;
    let first = shop.order(product, 1).await;
    let second = shop.order(product, 1).await;
    // A customer's status change is a write too: the third.
    let cancel = json!({"status": "cancelled"});
    let path = format!("/orders/{}", first["id"]);
    assert_eq!(
        shop.orders
            .put(&shop.customer, &path, &cancel)
            .await
            .status(),
        200
    );
    let stock = shop.products.stock(product).await;

    let refused = shop
        .orders
        .place(&shop.customer, &one_of(product), None)
        .await;
    assert_rate_limited(refused).await;
    assert_eq!(
        shop.products.stock(product).await,
        stock,
        "a refused order reserves nothing"
    );
    let second_path = format!("/orders/{}", second["id"]);
    let refused = shop.orders.put(&shop.customer, &second_path, &cancel).await;
    assert_rate_limited(refused).await;

    // Another customer has a window of their own; an admin's fulfilment is not counted.
    let (_, other) = shop.users.customer().await;
    let placed = shop.orders.place(&other, &one_of(product), None).await;
    assert_eq!(placed.status(), 201);
    let others_path = format!("/orders/{}", placed.json::<Value>().await.unwrap()["id"]);
    let fulfilment = [
        (&second_path, "confirmed"),
        (&second_path, "shipped"),
        (&second_path, "completed"),
        (&others_path, "confirmed"),
        (&others_path, "shipped"),
    ];
    for (path, status) in fulfilment {
        let changed = shop
            .orders
            .put(&shop.admin, path, &json!({"status": status}))
            .await;
        assert_eq!(changed.status(), 200, "admin moving {path} to {status}");
    }
}

#[tokio::test]
async fn an_idempotent_replay_is_not_counted() {
    let shop = shop_allowing("2").await;
    let product = shop.product(10).await;
    let body = one_of(product);
    let placed = shop
        .orders
        .place(&shop.customer, &body, Some("rate-key"))
        .await;
    assert_eq!(placed.status(), 201);
    for _ in 0..3 {
        let replayed = shop
            .orders
            .place(&shop.customer, &body, Some("rate-key"))
            .await;
        assert_eq!(replayed.status(), 201);
        assert_eq!(replayed.headers()["idempotent-replayed"], "true");
    }
    // The replays left the second write free.
    shop.order(product, 1).await;
    assert_rate_limited(shop.orders.place(&shop.customer, &body, None).await).await;
}

#[tokio::test]
async fn two_replicas_share_one_customers_count() {
    let shop = shop_allowing("4").await;
    let settings = [
        ("ORDER_WRITES_PER_USER", "4"),
        ("ORDER_WRITE_WINDOW_SECS", WINDOW),
    ];
    let replica =
        OrderServiceHandle::start_beside(&shop.users, &shop.products, &shop.orders, &settings)
            .await;
    let product = shop.product(10).await;
    let place_on_replica = || async {
        replica
            .client
            .post(replica.url("/orders"))
            .bearer_auth(&shop.customer)
            .json(&one_of(product))
            .send()
            .await
            .unwrap()
    };
    // Two writes on each replica use up the customer's four, wherever the next one lands.
    for _ in 0..2 {
        shop.order(product, 1).await;
        assert_eq!(place_on_replica().await.status(), 201);
    }
    assert_rate_limited(place_on_replica().await).await;
    assert_rate_limited(
        shop.orders
            .place(&shop.customer, &one_of(product), None)
            .await,
    )
    .await;
    replica.stop().await;
}
