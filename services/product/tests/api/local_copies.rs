//! Local copies across replicas: a write waits for the replicas that hold a copy of what it
//! changed to drop it, for nobody when none does, and for the lease when one does not answer;
//! no read after the write returned sees the old value. What a write waited for is read from
//! `product_cache_write_waits_total`, never timed.

use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

use test_support::{ProductServiceHandle, wait_until};

use crate::Shop;

/// The longest lease there is: a copy that was not dropped would still be served long after
/// the write returned.
const LONG_LEASE: [(&str, &str); 1] = [("PRODUCT_LOCAL_COPY_MS", "1000")];

async fn waits(replica: &ProductServiceHandle, reason: &str) -> f64 {
    replica
        .served_metric(&format!(
            "product_cache_write_waits_total{{reason=\"{reason}\"}}"
        ))
        .await
}

/// Waits until `replica` hears announcements: until then it keeps no local copy.
async fn listening(replica: &ProductServiceHandle) {
    wait_until("the replica to listen", Duration::from_secs(10), || async {
        replica.state.caches.announcements.listening().then_some(())
    })
    .await;
}

/// A second replica beside `shop`'s, on the same database and keys, with `settings`; both
/// listening.
async fn second_replica(shop: &Shop, settings: &[(&'static str, &str)]) -> ProductServiceHandle {
    let second = ProductServiceHandle::start_on(
        &shop.users,
        shop.products.database.share(),
        shop.products.cache_key_prefix.clone(),
        settings,
    )
    .await;
    listening(&shop.products).await;
    listening(&second).await;
    second
}

async fn update(shop: &Shop, id: i64, body: &Value) {
    let response = shop
        .admin_json(Method::PUT, &format!("/products/{id}"), body)
        .await;
    assert_eq!(response.status(), 200);
}

/// The other replica holds copies, but not of this product, and the writer's own copy is its
/// own business: the write waits for no one.
#[tokio::test]
async fn a_write_nobody_else_holds_a_copy_of_waits_for_no_one() {
    let shop = Shop::start_with(&LONG_LEASE).await;
    let other = second_replica(&shop, &LONG_LEASE).await;
    let written = shop
        .products
        .product_with_stock(&shop.admin, "Lamp", 1)
        .await;
    let elsewhere = shop
        .products
        .product_with_stock(&shop.admin, "Desk", 1)
        .await;
    other.get_json(&format!("/products/{elsewhere}")).await;
    shop.get_json(&format!("/products/{written}")).await;

    update(&shop, written, &json!({"quantity": 2})).await;
    assert_eq!(waits(&shop.products, "no_holder").await, 1.0);
    assert_eq!(waits(&shop.products, "acked").await, 0.0);
    assert_eq!(waits(&shop.products, "lease").await, 0.0);
    assert_eq!(
        shop.get_json(&format!("/products/{written}")).await["quantity"],
        2
    );
    other.stop().await;
}

/// The other replica holds a copy: the write returns once it has dropped it and said so, and
/// that replica then reads the new value, well within the lease its copy had left.
#[tokio::test]
async fn a_replica_holding_a_copy_drops_it_before_the_write_returns() {
    let shop = Shop::start_with(&LONG_LEASE).await;
    let other = second_replica(&shop, &LONG_LEASE).await;
    let id = shop
        .products
        .product_with_stock(&shop.admin, "Lamp", 1)
        .await;
    let path = format!("/products/{id}");
    for _ in 0..2 {
        assert_eq!(other.get_json(&path).await["quantity"], 1);
    }
    assert_eq!(
        other.served_metric("product_local_copy_hits_total").await,
        1.0,
        "the second read was the copy"
    );

    update(&shop, id, &json!({"quantity": 2})).await;
    assert_eq!(waits(&shop.products, "acked").await, 1.0);
    assert_eq!(waits(&shop.products, "lease").await, 0.0);
    assert_eq!(other.get_json(&path).await["quantity"], 2);
    other.stop().await;
}

/// A replica that cannot answer (its Redis answers held back, as for a paused process or a
/// stalled link) while it holds a copy: the write waits the lease out and returns, and that
/// replica, once it reads again, does not serve the copy it kept.
#[tokio::test]
async fn a_holder_that_does_not_answer_costs_the_lease_not_a_stale_read() {
    let proxy = test_infra::proxy::TcpProxy::start("127.0.0.1:6379".parse().unwrap()).await;
    let through_proxy = proxy.rewrite_url(test_support::REDIS_URL);
    let shop = Shop::start_with(&LONG_LEASE).await;
    let mut settings = LONG_LEASE.to_vec();
    settings.push(("REDIS_URL", &through_proxy));
    let paused = second_replica(&shop, &settings).await;
    let id = shop
        .products
        .product_with_stock(&shop.admin, "Lamp", 1)
        .await;
    let path = format!("/products/{id}");
    assert_eq!(paused.get_json(&path).await["quantity"], 1);

    proxy.hold_answers();
    update(&shop, id, &json!({"quantity": 2})).await;
    assert_eq!(waits(&shop.products, "lease").await, 1.0);
    assert_eq!(waits(&shop.products, "acked").await, 0.0);
    assert_eq!(
        paused.get_json(&path).await["quantity"],
        2,
        "the paused replica's copy, after the write returned"
    );
    proxy.release_answers();
    paused.stop().await;
}

/// A read under way on the other replica while a write commits: it read the old row before the
/// write and keeps its copy after that replica dropped the product for the write. That copy must
/// not be kept: the replica's reads after the write returned see the write.
#[tokio::test]
async fn a_read_under_way_during_a_write_keeps_no_copy_of_the_old_value() {
    let shop = Shop::start_with(&LONG_LEASE).await;
    let other = std::sync::Arc::new(second_replica(&shop, &LONG_LEASE).await);
    let id = shop
        .products
        .product_with_stock(&shop.admin, "Lamp", 1)
        .await;
    let path = format!("/products/{id}");

    let pause = other.state.caches.entries.pause_next_fill();
    let reader = tokio::spawn({
        let (other, path) = (other.clone(), path.clone());
        async move { other.get_json(&path).await }
    });
    tokio::time::timeout(Duration::from_secs(10), pause.reached.notified())
        .await
        .expect("the reader reaches the fill");
    update(&shop, id, &json!({"quantity": 2})).await;
    assert_eq!(
        waits(&shop.products, "acked").await,
        1.0,
        "the reader's replica answered"
    );
    pause.resume.notify_one();
    assert_eq!(
        reader.await.unwrap()["quantity"],
        1,
        "the read began before the write"
    );

    for _ in 0..3 {
        assert_eq!(other.get_json(&path).await["quantity"], 2);
    }
    std::sync::Arc::into_inner(other)
        .expect("the reader is done")
        .stop()
        .await;
}

/// Redis restarts: the holder sets are gone, and every subscription with them. A write after
/// that finds no holder, so a replica that held a copy must have forgotten it on losing its
/// subscription.
#[tokio::test]
async fn a_replica_that_loses_its_subscription_forgets_its_copies() {
    let proxy = test_infra::proxy::TcpProxy::start("127.0.0.1:6379".parse().unwrap()).await;
    let through_proxy = proxy.rewrite_url(test_support::REDIS_URL);
    let shop = Shop::start_with(&LONG_LEASE).await;
    let mut settings = LONG_LEASE.to_vec();
    settings.push(("REDIS_URL", &through_proxy));
    let cut_off = second_replica(&shop, &settings).await;
    let id = shop
        .products
        .product_with_stock(&shop.admin, "Lamp", 1)
        .await;
    let path = format!("/products/{id}");
    assert_eq!(cut_off.get_json(&path).await["quantity"], 1);

    // What a restart does to this replica (its connections close) and to Redis (the set is
    // gone), without restarting the Redis the other tests share.
    proxy.cut();
    let mut redis = crate::redis_connection(test_support::REDIS_URL).await;
    let _: () = redis::AsyncCommands::del(&mut redis, cut_off.state.caches.entries.holders_key(id))
        .await
        .unwrap();
    wait_until("the replica to notice", Duration::from_secs(10), || async {
        (!cut_off.state.caches.announcements.listening()).then_some(())
    })
    .await;
    update(&shop, id, &json!({"quantity": 2})).await;
    assert_eq!(waits(&shop.products, "no_holder").await, 1.0);
    assert_eq!(
        cut_off.get_json(&path).await["quantity"],
        2,
        "the copy of a replica that lost its subscription"
    );
    proxy.restore();
    cut_off.stop().await;
}
