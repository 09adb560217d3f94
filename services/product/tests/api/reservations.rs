//! Stock reservations: atomic under concurrency, idempotent, released exactly once.

use futures_util::future::join_all;
use serde_json::Value;
use test_support::count_created;
use uuid::Uuid;

use crate::{Shop, assert_problem, assert_problem_type};

#[tokio::test]
async fn a_reservation_takes_stock_once_and_reports_the_price_snapshot() {
    let shop = Shop::start().await;
    let id = shop
        .products
        .product_with_stock(&shop.admin, "Chair", 10)
        .await;
    shop.products.stock(id).await; // cached, so the reservation must invalidate it
    let reservation_id = Uuid::new_v4();

    let response = shop.products.reserve(reservation_id, id, 3).await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["reservation_id"], reservation_id.to_string());
    assert_eq!(created["product_id"], id);
    assert_eq!(created["product_name"], "Chair");
    assert_eq!(created["unit_price"], "19.99");
    assert_eq!(created["quantity"], 3);
    assert_eq!(created["status"], "reserved");
    assert_eq!(shop.products.stock(id).await, 7);

    let repeat = shop.products.reserve(reservation_id, id, 3).await;
    assert_eq!(repeat.status(), 200);
    assert_eq!(repeat.json::<Value>().await.unwrap(), created);
    assert_eq!(
        shop.products.stock(id).await,
        7,
        "a repeat reserves nothing"
    );

    for (product, quantity) in [(id, 4), (id + 1, 3)] {
        let mismatch = shop
            .products
            .reserve(reservation_id, product, quantity)
            .await;
        assert_problem_type(mismatch, 409, "urn:problem:reservation-mismatch").await;
    }

    let short = shop.products.reserve(Uuid::new_v4(), id, 8).await;
    assert_problem_type(short, 409, "urn:problem:insufficient-stock").await;
    let unknown = shop.products.reserve(Uuid::new_v4(), 999_999, 1).await;
    assert_problem_type(unknown, 404, "urn:problem:product-not-found").await;
    for quantity in [0, -1, 10_001] {
        let invalid = shop.products.reserve(Uuid::new_v4(), id, quantity).await;
        assert_problem(invalid, 422).await;
    }
    assert_eq!(shop.products.stock(id).await, 7);
}

#[tokio::test]
async fn a_repeat_answers_with_its_reservation_after_the_stock_ran_out() {
    let shop = Shop::start().await;
    let id = shop
        .products
        .product_with_stock(&shop.admin, "Last ones", 5)
        .await;
    let first = Uuid::new_v4();
    assert_eq!(shop.products.reserve(first, id, 3).await.status(), 201);
    assert_eq!(
        shop.products.reserve(Uuid::new_v4(), id, 2).await.status(),
        201
    );
    assert_eq!(shop.products.stock(id).await, 0);

    // Not "insufficient stock": this reservation holds its three units already.
    let repeat = shop.products.reserve(first, id, 3).await;
    assert_eq!(repeat.status(), 200);
    let body: Value = repeat.json().await.unwrap();
    assert_eq!(body["reservation_id"], first.to_string());
    assert_eq!(body["quantity"], 3);
    assert_eq!(body["status"], "reserved");
    let mismatch = shop.products.reserve(first, id, 4).await;
    assert_problem_type(mismatch, 409, "urn:problem:reservation-mismatch").await;
    assert_eq!(shop.products.stock(id).await, 0);
}

#[tokio::test]
async fn a_hundred_concurrent_reservations_for_ten_units_leave_exactly_zero() {
    let shop = Shop::start().await;
    let id = shop
        .products
        .product_with_stock(&shop.admin, "Scarce", 10)
        .await;
    let responses = join_all((0..100).map(|_| shop.products.reserve(Uuid::new_v4(), id, 1))).await;
    let reserved = count_created(responses, "urn:problem:insufficient-stock").await;
    assert_eq!(reserved, 10);
    assert_eq!(shop.products.stock(id).await, 0);
}

#[tokio::test]
async fn concurrent_retries_of_one_reservation_take_stock_once() {
    let shop = Shop::start().await;
    let id = shop
        .products
        .product_with_stock(&shop.admin, "Retried", 10)
        .await;
    let reservation_id = Uuid::new_v4();
    let responses = join_all((0..20).map(|_| shop.products.reserve(reservation_id, id, 2))).await;
    let statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 200),
        "{statuses:?}"
    );
    assert_eq!(shop.products.stock(id).await, 8);
}

#[tokio::test]
async fn release_returns_stock_exactly_once() {
    let shop = Shop::start().await;
    let id = shop
        .products
        .product_with_stock(&shop.admin, "Returned", 5)
        .await;
    let reservation_id = Uuid::new_v4();
    assert_eq!(
        shop.products.reserve(reservation_id, id, 4).await.status(),
        201
    );
    assert_eq!(shop.products.stock(id).await, 1);

    let releases = join_all((0..10).map(|_| shop.products.release(reservation_id))).await;
    assert!(releases.iter().all(|response| response.status() == 204));
    assert_eq!(shop.products.stock(id).await, 5, "released once");
    assert_eq!(shop.products.release(reservation_id).await.status(), 204);
    assert_eq!(shop.products.release(Uuid::new_v4()).await.status(), 204);
    assert_eq!(shop.products.stock(id).await, 5);

    // The id stays used: a repeat shows it released and reserves nothing.
    let repeat = shop.products.reserve(reservation_id, id, 4).await;
    assert_eq!(repeat.status(), 200);
    assert_eq!(repeat.json::<Value>().await.unwrap()["status"], "released");
    assert_eq!(shop.products.stock(id).await, 5);

    let invalid = shop
        .products
        .client
        .delete(shop.products.url("/internal/reservations/not-a-uuid"))
        .header("x-service-token", test_support::TEST_SERVICE_TOKEN.as_str())
        .send()
        .await
        .unwrap();
    assert_problem(invalid, 422).await;
}
