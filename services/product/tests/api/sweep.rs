//! Reservations no order confirmed go back to stock after `RESERVATION_TTL_SECS`, once, however
//! many replicas sweep; confirmed ones stay taken.

use std::time::Duration;

use futures_util::future::join_all;
use serde_json::Value;
use test_support::{ProductServiceHandle, TEST_SERVICE_TOKEN, wait_until};
use uuid::Uuid;

use crate::{Shop, assert_problem_type};

/// A sweep every 50 ms, with the default TTL (minutes): reservations are made due by
/// [`age_reservations`], never by the clock, which on a busy machine could pass a short TTL
/// between a reservation and the look at the stock it took.
const FAST_SWEEP: [(&str, &str); 1] = [("RESERVATION_SWEEP_INTERVAL_MS", "50")];

/// A guard against a hang only.
const WAIT: Duration = Duration::from_secs(60);

/// Moves every reservation's creation an hour back, past the TTL.
async fn age_reservations(products: &ProductServiceHandle) {
    test_support::database_client(&products.database.url)
        .await
        .execute(
            "UPDATE reservations SET created_at = created_at - interval '1 hour'",
            &[],
        )
        .await
        .unwrap();
}

async fn swept_total(products: &ProductServiceHandle) -> f64 {
    let text = products.get("/metrics").await.text().await.unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix("stock_reservations_swept_total "))
        .map_or(0.0, |value| value.parse().unwrap())
}

/// The reservation's stored status, read back through an idempotent repeat of it.
async fn status(products: &ProductServiceHandle, id: Uuid, product: i64, quantity: i64) -> Value {
    let repeat = products.reserve(id, product, quantity).await;
    assert_eq!(repeat.status(), 200);
    repeat.json::<Value>().await.unwrap()["status"].clone()
}

async fn confirm(products: &ProductServiceHandle, id: Uuid) -> reqwest::Response {
    products
        .client
        .post(products.url(&format!("/internal/reservations/{id}/confirmation")))
        .header("x-service-token", TEST_SERVICE_TOKEN.as_str())
        .send()
        .await
        .unwrap()
}

/// Waits until `product` is back at `units`.
async fn stock_reaches(products: &ProductServiceHandle, product: i64, units: i64) {
    wait_until("stock returns", WAIT, || async {
        (products.stock(product).await == units).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_reservation_no_order_confirmed_returns_to_stock_after_the_ttl_once() {
    let shop = Shop::start_with(&FAST_SWEEP).await;
    let id = shop
        .products
        .product_with_stock(&shop.admin, "Lamp", 10)
        .await;
    let reservation = Uuid::new_v4();
    assert_eq!(
        shop.products.reserve(reservation, id, 3).await.status(),
        201
    );
    assert_eq!(shop.products.stock(id).await, 7);

    age_reservations(&shop.products).await;
    stock_reaches(&shop.products, id, 10).await;
    assert_eq!(status(&shop.products, reservation, id, 3).await, "expired");
    assert!((swept_total(&shop.products).await - 1.0).abs() < f64::EPSILON);

    // A late release (the order's compensation) returns nothing more.
    assert_eq!(shop.products.release(reservation).await.status(), 204);
    assert_eq!(shop.products.stock(id).await, 10);
}

#[tokio::test]
async fn a_confirmed_reservation_is_never_swept_and_a_late_confirmation_takes_stock_again() {
    let shop = Shop::start_with(&FAST_SWEEP).await;
    let id = shop
        .products
        .product_with_stock(&shop.admin, "Desk", 10)
        .await;
    let (kept, late) = (Uuid::new_v4(), Uuid::new_v4());
    assert_eq!(shop.products.reserve(kept, id, 2).await.status(), 201);
    assert_eq!(confirm(&shop.products, kept).await.status(), 204);
    assert_eq!(confirm(&shop.products, kept).await.status(), 204, "repeat");
    assert_eq!(shop.products.reserve(late, id, 3).await.status(), 201);
    assert_eq!(shop.products.stock(id).await, 5);

    // Both past the TTL; only the unconfirmed one goes back.
    age_reservations(&shop.products).await;
    stock_reaches(&shop.products, id, 8).await;
    assert_eq!(status(&shop.products, kept, id, 2).await, "confirmed");
    assert_eq!(status(&shop.products, late, id, 3).await, "expired");

    // The order of the swept one was stored after all: its stock is taken again.
    assert_eq!(confirm(&shop.products, late).await.status(), 204);
    assert_eq!(shop.products.stock(id).await, 5);
    assert_eq!(status(&shop.products, late, id, 3).await, "confirmed");

    // A confirmed reservation is still released when its order is cancelled.
    assert_eq!(shop.products.release(kept).await.status(), 204);
    assert_eq!(shop.products.stock(id).await, 7);
    assert_problem_type(
        confirm(&shop.products, kept).await,
        409,
        "urn:problem:reservation-released",
    )
    .await;
    assert_problem_type(
        confirm(&shop.products, Uuid::new_v4()).await,
        404,
        "urn:problem:reservation-not-found",
    )
    .await;
}

#[tokio::test]
async fn two_replicas_sweeping_at_once_return_each_reservation_once() {
    let shop = Shop::start().await;
    let mut products = Vec::new();
    for name in ["Cup", "Mug", "Bowl"] {
        products.push(
            shop.products
                .product_with_stock(&shop.admin, name, 100)
                .await,
        );
    }
    let reservations: Vec<(Uuid, i64)> = (0..60)
        .map(|n| (Uuid::new_v4(), products[n % products.len()]))
        .collect();
    for response in join_all(
        reservations
            .iter()
            .map(|(id, product)| shop.products.reserve(*id, *product, 1)),
    )
    .await
    {
        assert_eq!(response.status(), 201);
    }

    // All due already, so both replicas' first sweeps, 50 ms after they start, find them all.
    age_reservations(&shop.products).await;

    // Two replicas on the same database, both sweeping every 50 ms.
    let database = &shop.products.database;
    let replica = |prefix: String| {
        let database = database.share();
        ProductServiceHandle::start_on(&shop.users, database, prefix, &FAST_SWEEP)
    };
    let (first, second) = tokio::join!(
        replica(shop.products.cache_key_prefix.clone()),
        replica(shop.products.cache_key_prefix.clone())
    );
    for product in &products {
        stock_reaches(&first, *product, 100).await;
    }
    let swept = swept_total(&first).await + swept_total(&second).await;
    assert!((swept - 60.0).abs() < f64::EPSILON, "swept {swept}");
    for product in &products {
        assert_eq!(second.stock(*product).await, 100, "returned once");
    }
}
