//! Inventory denial and unbounded tables: pending orders expire and give their stock back, a
//! customer's pending orders are capped, old outbox rows and idempotency keys are purged.

use std::time::Duration;

use futures_util::future::join_all;
use serde_json::{Value, json};
use test_support::{count_created, wait_until};

use crate::Shop;

/// A guard against a hang only: far beyond what any step takes on a loaded machine.
const WAIT: Duration = Duration::from_secs(60);

async fn orders_database(shop: &Shop) -> tokio_postgres::Client {
    test_support::database_client(&shop.orders.database.url).await
}

/// One value of the order service's own database.
async fn count(shop: &Shop, sql: &str) -> i64 {
    orders_database(shop)
        .await
        .query_one(sql, &[])
        .await
        .unwrap()
        .get(0)
}

/// Makes rows old by moving their time back a day, past the retention under test. The services
/// keep their default retentions (half an hour and more), so nothing ages by the clock while a
/// test looks at it: a one-second retention could pass during any slow step of a busy machine.
async fn age(shop: &Shop, sql: &str) {
    let changed = orders_database(shop).await.execute(sql, &[]).await.unwrap();
    assert!(changed > 0, "nothing to age: {sql}");
}

#[tokio::test]
async fn a_pending_order_expires_its_stock_comes_back_and_the_change_is_published() {
    let shop = Shop::start_with(&[("HOUSEKEEPING_INTERVAL_MS", "100")]).await;
    let product = shop.product(5).await;
    let order = shop.order(product, 5).await;
    assert_eq!(shop.products.stock(product).await, 0);

    age(
        &shop,
        &format!(
            "UPDATE orders SET created_at = created_at - interval '1 day' WHERE id = {}",
            order["id"]
        ),
    )
    .await;
    let path = format!("/orders/{}", order["id"]);
    wait_until("the order to expire", WAIT, || async {
        let order: Value = shop
            .orders
            .get_as(&shop.customer, &path)
            .await
            .json()
            .await
            .ok()?;
        (order["status"] == "cancelled").then_some(())
    })
    .await;
    wait_until("the stock to come back", WAIT, || async {
        (shop.products.stock(product).await == 5).then_some(())
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
    let responses = join_all(attempts).await;
    let placed = count_created(responses, "urn:problem:too-many-pending-orders").await;
    assert_eq!(placed, 3);
    // Refused orders hold no stock (a refused insert releases its reservation).
    wait_until("the refused orders' stock to come back", WAIT, || async {
        (shop.products.stock(product).await == 97).then_some(())
    })
    .await;
}

#[tokio::test]
async fn published_outbox_rows_and_old_idempotency_keys_are_purged() {
    let shop = Shop::start_with(&[("HOUSEKEEPING_INTERVAL_MS", "100")]).await;
    let product = shop.product(5).await;
    let body = json!({"product_id": product, "quantity": 1});
    let place = || shop.orders.place(&shop.customer, &body, Some("purge-me"));
    let response = place().await;
    assert_eq!(response.status(), 201);
    let first: Value = response.json().await.unwrap();
    assert_eq!(
        count(&shop, "SELECT count(*) FROM idempotency_keys").await,
        1
    );
    // Only published rows are purged: wait for the relay, then age the row and the key.
    wait_until("the order's event to be published", WAIT, || async {
        let published = "SELECT count(*) FROM outbox WHERE published_at IS NOT NULL";
        (count(&shop, published).await == 1).then_some(())
    })
    .await;
    age(
        &shop,
        "UPDATE outbox SET published_at = published_at - interval '30 days'",
    )
    .await;
    age(
        &shop,
        "UPDATE idempotency_keys SET created_at = created_at - interval '30 days'",
    )
    .await;
    wait_until("the outbox and the keys to be purged", WAIT, || async {
        let outbox = count(&shop, "SELECT count(*) FROM outbox").await;
        let keys = count(&shop, "SELECT count(*) FROM idempotency_keys").await;
        (outbox == 0 && keys == 0).then_some(())
    })
    .await;
    // The order itself stays.
    assert_eq!(count(&shop, "SELECT count(*) FROM orders").await, 1);
    // A retry now is a new order: the key was really forgotten.
    let retried = place().await;
    assert_eq!(retried.status(), 201);
    let second: Value = retried.json().await.unwrap();
    assert_ne!(second["id"], first["id"]);
}
