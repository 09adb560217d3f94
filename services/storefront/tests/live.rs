//! Live order status over server-sent events, at the HTTP level: every replica streams every
//! change, each user only their own, a restarted replica resumes from its durable consumer, and
//! with NATS down the pages still work and say that live updates are paused.

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::sse::EventReader;
use support::{System, start_storefront, storefront_session, wait_live};

async fn place(system: &System, token: &str, product: i64) -> i64 {
    let response = system
        .orders
        .place(token, &json!({"product_id": product, "quantity": 1}), None)
        .await;
    assert_eq!(response.status(), 201);
    response.json::<Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap()
}

async fn set_status(system: &System, admin: &str, order: i64, status: &str) {
    let path = format!("/orders/{order}");
    let response = system
        .orders
        .put(admin, &path, &json!({ "status": status }))
        .await;
    assert_eq!(response.status(), 200, "{order} → {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_replica_streams_each_user_only_their_orders_and_a_restart_resumes() {
    let system = System::start().await;
    let second_settings = {
        let mut settings = system.storefront_settings();
        settings.retain(|(key, _)| *key != "STOREFRONT_CONSUMER");
        settings.push(("STOREFRONT_CONSUMER", "storefront-second-replica".into()));
        settings
    };
    let second = start_storefront(&second_settings).await;
    wait_live(&second).await;
    let (_, admin) = system.users.admin().await;
    let (ann_name, ann) = system.users.customer().await;
    let (bob_name, bob) = system.users.customer().await;
    let product = system.products.product_with_stock(&admin, "Lamp", 10).await;
    let anns_order = place(&system, &ann, product).await;
    let bobs_order = place(&system, &bob, product).await;
    // One session each, good on every replica: they share the session store.
    let ann = storefront_session(&system.storefront, &ann_name, "customer-password").await;
    let bob = storefront_session(&system.storefront, &bob_name, "customer-password").await;

    let mut ann_first = EventReader::open(&system.storefront, &ann, None).await;
    let mut ann_second = EventReader::open(&second, &ann, None).await;
    let mut bob_first = EventReader::open(&system.storefront, &bob, None).await;
    set_status(&system, &admin, anns_order, "confirmed").await;
    set_status(&system, &admin, bobs_order, "confirmed").await;

    // A page opened with `since=0` first gets what the replica already holds, then live
    // changes, all in stream order: had one of Ann's events leaked to Bob, it would come first.
    ann_first.expect(anns_order, "pending").await;
    let seen = ann_first.expect(anns_order, "confirmed").await;
    ann_second.expect(anns_order, "pending").await;
    ann_second.expect(anns_order, "confirmed").await;
    bob_first.expect(bobs_order, "pending").await;
    bob_first.expect(bobs_order, "confirmed").await;

    // The second replica goes away; the order ships meanwhile; the replica comes back under the
    // same consumer name and a page reconnecting with its last event id still gets the change.
    drop(ann_second);
    second.stop().await;
    set_status(&system, &admin, anns_order, "shipped").await;
    ann_first.expect(anns_order, "shipped").await;
    let restarted = start_storefront(&second_settings).await;
    let mut reconnected = EventReader::open(&restarted, &ann, Some(seen)).await;
    let id = reconnected.expect(anns_order, "shipped").await;
    assert!(id > seen);
    restarted.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_nats_pages_work_and_say_live_updates_are_paused() {
    let users = test_support::UserServiceHandle::start().await;
    let products = test_support::ProductServiceHandle::start(&users).await;
    let orders = test_support::OrderServiceHandle::start(&users, &products).await;
    let nowhere = format!("nats://127.0.0.1:{}", test_support::free_port());
    let storefront = start_storefront(&[
        ("USER_SERVICE_URL", users.base_url.clone()),
        ("PRODUCT_SERVICE_URL", products.base_url.clone()),
        ("ORDER_SERVICE_URL", orders.base_url.clone()),
        ("NATS_URL", nowhere),
    ])
    .await;
    let (_, admin) = users.admin().await;
    let (name, token) = users.customer().await;
    let product = products.product_with_stock(&admin, "Lamp", 3).await;
    let session = storefront_session(&storefront, &name, "customer-password").await;
    let response = orders
        .place(&token, &json!({"product_id": product, "quantity": 1}), None)
        .await;
    let order = response.json::<Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap();

    let client = test_support::http_client();
    for path in [format!("/orders/{order}"), "/orders".to_owned()] {
        let started = Instant::now();
        let response = client
            .get(storefront.url(&path))
            .header("cookie", format!("sf_session={session}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{path} waited for NATS"
        );
        let page = response.text().await.unwrap();
        assert!(page.contains("Live updates are paused"), "{path}: {page}");
        assert!(page.contains("Lamp"), "{path}");
    }
    let health: Value = client
        .get(storefront.url("/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["dependencies"]["nats"]["status"], "down");
    storefront.stop().await;
}
