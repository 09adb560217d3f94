use futures_util::future::join_all;
use serde_json::json;
use test_support::count_created;

use crate::{Shop, assert_problem, assert_problem_type};

#[tokio::test]
async fn placing_an_order_reserves_stock_and_snapshots_the_price() {
    let shop = Shop::start().await;
    let product = shop.product(10).await;
    let order = shop.order(product, 3).await;
    assert_eq!(order["status"], "pending");
    assert_eq!(order["quantity"], 3);
    assert_eq!(order["unit_price"], "19.99");
    assert_eq!(order["total_price"], "59.97");
    assert_eq!(order["product_name"], "Walnut desk");
    assert_eq!(shop.products.stock(product).await, 7);

    let id = order["id"].as_i64().unwrap();
    let fetched: serde_json::Value = shop
        .orders
        .get_as(&shop.customer, &format!("/orders/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(fetched, order);
}

#[tokio::test]
async fn fifty_concurrent_orders_for_ten_units_never_oversell() {
    // One customer places all fifty: the pending-order cap (10 by default) must not be what
    // refuses the late ones, or the stock guard goes untested for them (a fast run saw ten
    // orders stored before the last requests were admitted: 409 too-many-pending-orders).
    let shop = Shop::start_with(&[("MAX_PENDING_ORDERS_PER_CUSTOMER", "1000")]).await;
    let product = shop.product(10).await;
    let body = json!({"product_id": product, "quantity": 1});
    let responses = join_all((0..50).map(|_| shop.orders.place(&shop.customer, &body, None))).await;
    let created = count_created(responses, "urn:problem:insufficient-stock").await;
    assert_eq!(created, 10);
    assert_eq!(shop.products.stock(product).await, 0);
}

#[tokio::test]
async fn an_idempotency_key_makes_a_retry_return_the_original_order() {
    let shop = Shop::start().await;
    let product = shop.product(10).await;
    let body = json!({"product_id": product, "quantity": 2});
    let first = shop
        .orders
        .place(&shop.customer, &body, Some("key-1"))
        .await;
    assert_eq!(first.status(), 201);
    let first: serde_json::Value = first.json().await.unwrap();

    let retry = shop
        .orders
        .place(&shop.customer, &body, Some("key-1"))
        .await;
    assert_eq!(retry.status(), 201);
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    let retry: serde_json::Value = retry.json().await.unwrap();
    assert_eq!(retry["id"], first["id"]);
    assert_eq!(
        shop.products.stock(product).await,
        8,
        "the retry reserved nothing"
    );

    let other_body = json!({"product_id": product, "quantity": 5});
    let misuse = shop
        .orders
        .place(&shop.customer, &other_body, Some("key-1"))
        .await;
    assert_problem_type(misuse, 422, "urn:problem:idempotency-key-reused").await;

    // Keys belong to their user: another customer's "key-1" is a new order.
    let (_, other) = shop.users.customer().await;
    let theirs = shop.orders.place(&other, &body, Some("key-1")).await;
    assert_eq!(theirs.status(), 201);
    let theirs: serde_json::Value = theirs.json().await.unwrap();
    assert_ne!(theirs["id"], first["id"]);
}

#[tokio::test]
async fn concurrent_retries_with_one_key_create_one_order() {
    let shop = Shop::start().await;
    let product = shop.product(10).await;
    let body = json!({"product_id": product, "quantity": 1});
    let responses =
        join_all((0..6).map(|_| shop.orders.place(&shop.customer, &body, Some("same-key")))).await;
    let statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 409),
        "{statuses:?}"
    );
    assert!(statuses.contains(&201));
    assert_eq!(shop.products.stock(product).await, 9, "{statuses:?}");
}

#[tokio::test]
async fn invalid_orders_are_4xx_problems() {
    let shop = Shop::start().await;
    let product = shop.product(5).await;
    for body in [
        json!({"product_id": product, "quantity": 0}),
        json!({"product_id": product, "quantity": -1}),
        json!({"product_id": product, "quantity": 10_001}),
        json!({"product_id": 0, "quantity": 1}),
        json!({"product_id": product}),
        json!({"product_id": "one", "quantity": 1}),
        json!({"product_id": product, "quantity": 1.5}),
        json!({"product_id": product, "quantity": 1, "price": "0.01"}),
    ] {
        let response = shop.orders.place(&shop.customer, &body, None).await;
        assert_problem(response, 422).await;
    }
    let unknown = shop
        .orders
        .place(
            &shop.customer,
            &json!({"product_id": 999_999, "quantity": 1}),
            None,
        )
        .await;
    assert_eq!(
        assert_problem(unknown, 422).await["errors"][0]["field"],
        "product_id"
    );

    let too_many = shop
        .orders
        .place(
            &shop.customer,
            &json!({"product_id": product, "quantity": 6}),
            None,
        )
        .await;
    assert_problem(too_many, 409).await;

    let malformed = shop
        .orders
        .client
        .post(shop.orders.url("/orders"))
        .bearer_auth(&shop.customer)
        .header("content-type", "application/json")
        .body("{\"product_id\": ")
        .send()
        .await
        .unwrap();
    assert_problem(malformed, 400).await;

    let bad_key = shop
        .orders
        .place(
            &shop.customer,
            &json!({"product_id": product, "quantity": 1}),
            Some("has space"),
        )
        .await;
    assert_problem(bad_key, 400).await;
    assert_eq!(
        shop.products.stock(product).await,
        5,
        "nothing was reserved by refused orders"
    );
}
