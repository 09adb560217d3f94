//! Live order status over server-sent events, at the HTTP level: every replica streams every
//! change, each user only their own, a restarted replica resumes from its durable consumer, and
//! with NATS down the pages still work and say that live updates are paused.

mod support;

use serde_json::{Value, json};
use support::sse::EventReader;
use support::{System, start_storefront, storefront_session, wait_live};
use test_infra::nats_server::PrivateNats;
use test_support::{HANG_GUARD, OrderServiceHandle};

/// The id of a new order of one unit of `product` as `token`.
async fn place(orders: &OrderServiceHandle, token: &str, product: i64) -> i64 {
    let order = orders.place_order(token, product, 1).await;
    order["id"].as_i64().unwrap()
}

/// A customer's open live page that has seen their new order as pending, with the admin's
/// token to move that order on.
struct FollowedOrder {
    admin: String,
    session: String,
    order: i64,
    page: EventReader,
}

async fn a_page_following_a_pending_order(system: &System) -> FollowedOrder {
    let (_, admin) = system.users.admin().await;
    let (name, token) = system.users.customer().await;
    let product = system.products.product_with_stock(&admin, "Lamp", 10).await;
    let session = storefront_session(&system.storefront, &name, "customer-password").await;
    let mut page = EventReader::open(&system.storefront, &session, None).await;
    let order = place(&system.orders, &token, product).await;
    page.expect(order, "pending").await;
    FollowedOrder {
        admin,
        session,
        order,
        page,
    }
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
    let anns_order = place(&system.orders, &ann, product).await;
    let bobs_order = place(&system.orders, &bob, product).await;
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
    // NATS is down, and anything that waited for it would wait ten minutes: a page that asked
    // NATS would hit the test client's timeout (30 s) instead of answering.
    let mut nats = PrivateNats::start().await;
    nats.kill().await;
    let storefront = start_storefront(&[
        ("USER_SERVICE_URL", users.base_url.clone()),
        ("PRODUCT_SERVICE_URL", products.base_url.clone()),
        ("ORDER_SERVICE_URL", orders.base_url.clone()),
        ("NATS_URL", nats.url()),
        (
            "NATS_TIMEOUT_MS",
            test_support::TIMEOUT_BEYOND_GUARD_MS.into(),
        ),
    ])
    .await;
    let (_, admin) = users.admin().await;
    let (name, token) = users.customer().await;
    let product = products.product_with_stock(&admin, "Lamp", 3).await;
    let session = storefront_session(&storefront, &name, "customer-password").await;
    let order = place(&orders, &token, product).await;

    let client = test_support::http_client();
    for path in [format!("/orders/{order}"), "/orders".to_owned()] {
        let response = client
            .get(storefront.url(&path))
            .header("cookie", format!("sf_session={session}"))
            .send()
            .await
            .unwrap_or_else(|error| panic!("{path} waited for NATS: {error}"));
        assert_eq!(response.status(), 200, "{path}");
        let page = response.text().await.unwrap();
        assert!(page.contains("Live updates are paused"), "{path}: {page}");
        assert!(page.contains("Lamp"), "{path}");
    }
    let health = storefront.get_json("/health").await;
    assert_eq!(health["dependencies"]["nats"]["status"], "down");
    // Back, so that the shutdown's flush (bounded by the same ten minutes) finds it.
    nats.restart().await;
    storefront.stop().await;
}

/// Reads `reader` until a `live` event saying `state` (`running` or `paused`).
async fn wait_live_state(reader: &mut EventReader, state: &str) {
    loop {
        let event = reader.next(HANG_GUARD).await;
        if event.name == "live" && event.data == state {
            return;
        }
        assert_ne!(
            event.name, "resync",
            "the page was told to reload: {event:?}"
        );
    }
}

/// Reads `reader` until a status event; asserts it is `order` in `status`.
async fn expect_status_after_recovery(reader: &mut EventReader, order: i64, status: &str) {
    loop {
        let event = reader.next(HANG_GUARD).await;
        assert_ne!(
            event.name, "resync",
            "the page was told to reload: {event:?}"
        );
        if event.name == "status" {
            let body: Value = serde_json::from_str(&event.data).unwrap();
            assert_eq!(
                (body["order"].as_i64(), body["status"].as_str()),
                (Some(order), Some(status))
            );
            return;
        }
    }
}

/// NATS dies under an open page and comes back (same port, same store): the page is told live
/// updates paused, then running again, and on the very same stream gets the change made while
/// NATS was away (the durable consumer resumes after its last acknowledged event) and the one
/// made after it returned.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_open_stream_follows_on_when_nats_drops_and_returns() {
    let mut system = System::start().await;
    let FollowedOrder {
        admin,
        order,
        mut page,
        ..
    } = a_page_following_a_pending_order(&system).await;

    system.nats.kill().await;
    wait_live_state(&mut page, "paused").await;
    set_status(&system, &admin, order, "confirmed").await;
    system.nats.restart().await;
    wait_live_state(&mut page, "running").await;
    expect_status_after_recovery(&mut page, order, "confirmed").await;
    set_status(&system, &admin, order, "shipped").await;
    expect_status_after_recovery(&mut page, order, "shipped").await;
}

/// The stream is deleted under an open page (an operator's slip; a stream kept in memory goes
/// the same way when NATS restarts) and the bridge creates it anew, counting from 1 again. The
/// open page's position means nothing in the new stream: it is told to reload, and the page
/// opened then follows the changes that come after.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replaced_stream_tells_open_pages_to_reload() {
    let system = System::start().await;
    let FollowedOrder {
        admin,
        session,
        order,
        mut page,
    } = a_page_following_a_pending_order(&system).await;
    set_status(&system, &admin, order, "confirmed").await;
    page.expect(order, "confirmed").await;

    system
        .bridge
        .jetstream()
        .await
        .delete_stream(&system.bridge.names.stream)
        .await
        .expect("the stream is deleted");
    // The bridge puts the stream back when this change finds it gone.
    set_status(&system, &admin, order, "shipped").await;
    loop {
        let event = page.next(HANG_GUARD).await;
        assert_ne!(
            event.name, "status",
            "a status after the stream was replaced: {event:?}"
        );
        if event.name == "resync" {
            break;
        }
    }
    page.ended(HANG_GUARD).await;

    let mut reloaded = EventReader::open(&system.storefront, &session, None).await;
    set_status(&system, &admin, order, "completed").await;
    loop {
        // The reloaded page may first get the shipment, if it came after the new stream did.
        match reloaded.next_status().await {
            (id, status, _) if id == order && status == "completed" => break,
            (id, status, _) => assert_eq!((id, status.as_str()), (order, "shipped")),
        }
    }
}
