//! Inventory denial and unbounded tables: pending orders expire and give their stock back, a
//! customer's pending orders are capped, old outbox rows and idempotency keys are purged.

use std::time::Duration;

use futures_util::future::join_all;
use serde_json::{Value, json};
use test_support::wait_until;

use crate::{Shop, assert_problem};

const WAIT: Duration = Duration::from_secs(20);

/// One value of the order service's own database.
async fn count(shop: &Shop, sql: &str) -> i64 {
    let (client, connection) =
        tokio_postgres::connect(&shop.orders.database.url, tokio_postgres::NoTls)
            .await
            .unwrap();
    tokio::spawn(connection);
    client.query_one(sql, &[]).await.unwrap().get(0)
}

#[tokio::test]
async fn a_pending_order_expires_its_stock_comes_back_and_the_change_is_published() {
    let shop = Shop::start_with(&[
        ("PENDING_ORDER_TTL_SECS", "1"),
        ("HOUSEKEEPING_INTERVAL_MS", "100"),
    ])
    .await;
    let product = shop.product(5).await;
    let order = shop.order(product, 5).await;
    assert_eq!(shop.stock(product).await, 0);

    let path = format!("/orders/{}", order["id"]);
    wait_until("the order to expire", WAIT, || async {
        let order: Value = shop
            .orders
            .get(&shop.customer, &path)
            .await
            .json()
            .await
            .ok()?;
        (order["status"] == "cancelled").then_some(())
    })
    .await;
    wait_until("the stock to come back", WAIT, || async {
        (shop.stock(product).await == 5).then_some(())
    })
    .await;
    let changes = count(
        &shop,
        "SELECT count(*) FROM outbox WHERE event_type = 'order.status_changed' \
         AND payload::jsonb->>'previous_status' = 'pending' \
         AND payload::jsonb->'order'->>'status' = 'cancelled'",
    )
    .await;
    assert_eq!(changes, 1, "one order.status_changed pending → cancelled");
}

#[tokio::test]
async fn a_customer_cannot_hold_more_pending_orders_than_the_cap() {
    let shop = Shop::start_with(&[("MAX_PENDING_ORDERS_PER_CUSTOMER", "3")]).await;
    let product = shop.product(100).await;
    // Concurrent, so the cap must hold inside the insert, not only in the early check.
    let body = json!({"product_id": product, "quantity": 1});
    let attempts = (0..8).map(|_| shop.orders.place(&shop.customer, &body, None));
    let mut placed = 0;
    for response in join_all(attempts).await {
        match response.status().as_u16() {
            201 => placed += 1,
            409 => {
                let problem = assert_problem(response, 409).await;
                assert_eq!(problem["type"], "urn:problem:too-many-pending-orders");
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(placed, 3);
    // Refused orders hold no stock (a refused insert releases its reservation).
    wait_until("the refused orders' stock to come back", WAIT, || async {
        (shop.stock(product).await == 97).then_some(())
    })
    .await;
}

#[tokio::test]
async fn published_outbox_rows_and_old_idempotency_keys_are_purged() {
    let shop = Shop::start_with(&[
        ("OUTBOX_RETENTION_SECS", "1"),
        ("IDEMPOTENCY_KEY_RETENTION_SECS", "1"),
        ("HOUSEKEEPING_INTERVAL_MS", "100"),
    ])
    .await;
    let product = shop.product(5).await;
    let response = shop
        .orders
        .place(
            &shop.customer,
            &json!({"product_id": product, "quantity": 1}),
            Some("purge-me"),
        )
        .await;
    assert_eq!(response.status(), 201);
    assert_eq!(
        count(&shop, "SELECT count(*) FROM idempotency_keys").await,
        1
    );
    wait_until("the outbox and the keys to be purged", WAIT, || async {
        let outbox = count(&shop, "SELECT count(*) FROM outbox").await;
        let keys = count(&shop, "SELECT count(*) FROM idempotency_keys").await;
        (outbox == 0 && keys == 0).then_some(())
    })
    .await;
    // The order itself stays.
    assert_eq!(count(&shop, "SELECT count(*) FROM orders").await, 1);
}
