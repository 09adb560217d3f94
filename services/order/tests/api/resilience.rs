use std::time::Duration;

use serde_json::{Value, json};
use test_infra::proxy::TcpProxy;
use test_support::broker::{BROKER_ADDRESS, TestBroker, service_url};
use test_support::{OrderServiceHandle, ProductServiceHandle, UserServiceHandle, wait_until};

use crate::relay::{EventLedger, outbox_events};
use crate::{Shop, assert_problem, assert_problem_type};

const WAIT: Duration = Duration::from_secs(30);

/// Orders keep being accepted with the broker cut; once it is back, every stored event reaches
/// the exchange under its own event id. Copies are allowed (at least once), lost events not.
#[tokio::test]
async fn orders_are_accepted_while_rabbitmq_is_down_and_no_event_is_lost() {
    let users = UserServiceHandle::start().await;
    let products = ProductServiceHandle::start(&users).await;
    let proxy = TcpProxy::start(BROKER_ADDRESS.parse().unwrap()).await;
    let amqp_url = proxy.rewrite_url(service_url());
    let orders = OrderServiceHandle::start_with(
        &users,
        &products,
        &[("AMQP_URL", &amqp_url), ("AMQP_TIMEOUT_MS", "1000")],
    )
    .await;
    let broker = TestBroker::connect().await;
    let tap = broker.tap(&orders.exchange, "order.created").await;
    let (_, admin) = users.admin().await;
    let (_, customer) = users.customer().await;
    let product = products.product_with_stock(&admin, "Chair", 100).await;
    let body = json!({"product_id": product, "quantity": 1});

    // A known state before the cut: the first order's event is out and confirmed.
    let before = orders.place(&customer, &body, None).await;
    assert_eq!(before.status(), 201);
    let mut ledger = EventLedger::default();
    ledger
        .wait_for(&broker, &tap, &outbox_events(&orders.database.url).await)
        .await;
    wait_until("the first event confirmed", WAIT, || async {
        (orders.served_metric("outbox_published_total").await >= 1.0).then_some(())
    })
    .await;

    proxy.cut();
    for _ in 0..5 {
        let response = orders.place(&customer, &body, None).await;
        assert_eq!(
            response.status(),
            201,
            "orders are accepted with the broker away"
        );
    }
    // The background probe sees the broker gone within about a second; the backlog is in
    // the metrics, not in the public health answer.
    wait_until("health to report rabbitmq down", WAIT, || async {
        let health = orders.get_json("/health").await;
        (health["dependencies"]["rabbitmq"]["status"] == "down").then_some(())
    })
    .await;
    wait_until("the outbox backlog gauge", WAIT, || async {
        (orders.served_metric("outbox_backlog").await >= 5.0).then_some(())
    })
    .await;

    proxy.restore();
    let stored = outbox_events(&orders.database.url).await;
    assert_eq!(stored.len(), 6);
    ledger.wait_for(&broker, &tap, &stored).await;
    orders.relay.drain().await.unwrap();
    ledger.take(&broker, &tap).await;
    // Every order's one event id, and no id the outbox does not hold.
    assert_eq!(ledger.events(), stored);
}

#[tokio::test]
async fn the_product_service_down_is_a_fast_503_and_nothing_is_stored() {
    let users = UserServiceHandle::start().await;
    let products = ProductServiceHandle::start(&users).await;
    let proxy = TcpProxy::start(products.address).await;
    let product_url = format!("http://{}", proxy.address);
    // Product Service calls may take ten minutes: a 503 that waited for that would trip the
    // test client's own timeout (30 s); the fast one comes from the refused connection.
    let orders = OrderServiceHandle::start_with(
        &users,
        &products,
        &[
            ("PRODUCT_SERVICE_URL", &product_url),
            ("PRODUCT_TIMEOUT_MS", test_support::TIMEOUT_BEYOND_GUARD_MS),
        ],
    )
    .await;
    let (_, admin) = users.admin().await;
    let (_, customer) = users.customer().await;
    let product = products.product_with_stock(&admin, "Shelf", 3).await;

    proxy.cut();
    let response = orders
        .place(
            &customer,
            &json!({"product_id": product, "quantity": 1}),
            Some("retry-me"),
        )
        .await;
    assert_problem_type(response, 503, "urn:problem:unavailable").await;
    let listed: Value = orders
        .get_as(&customer, "/orders")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"], json!([]));

    // The failed attempt left the key free: the retry goes through once the service is back.
    proxy.restore();
    let retry = orders
        .place(
            &customer,
            &json!({"product_id": product, "quantity": 1}),
            Some("retry-me"),
        )
        .await;
    assert_eq!(retry.status(), 201);
}

#[tokio::test]
async fn the_user_service_down_is_503_not_401() {
    let users = UserServiceHandle::start().await;
    let products = ProductServiceHandle::start(&users).await;
    let orders = OrderServiceHandle::start(&users, &products).await;
    let (_, customer) = users.customer().await;
    // Stopped, not only told to stop: until its drain ends it still answers.
    let _stopped = users.stop().await;
    let response = orders.get_as(&customer, "/orders").await;
    assert_problem(response, 503).await;
}

/// Stock reserved for an order that then cannot be stored goes back to the Product Service, and
/// the idempotency key is freed so that a retry places the order.
#[tokio::test]
async fn a_failed_insert_gives_the_reserved_stock_and_the_key_back() {
    let shop = Shop::start().await;
    let product = shop.product(5).await;
    let orders_db = test_support::database_client(&shop.orders.database.url).await;
    orders_db
        .batch_execute(
            "CREATE FUNCTION refuse_orders() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$; \
             CREATE TRIGGER refuse_orders BEFORE INSERT ON orders \
             FOR EACH ROW EXECUTE FUNCTION refuse_orders();",
        )
        .await
        .unwrap();
    let body = json!({"product_id": product, "quantity": 2});
    let failed = shop.orders.place(&shop.customer, &body, Some("k-1")).await;
    assert_eq!(failed.status(), 500);

    // The reservation was made, then released: the stock is whole again.
    let products_db = test_support::database_client(&shop.products.database.url).await;
    wait_until(
        "the reservation released",
        Duration::from_secs(10),
        || async {
            let rows = products_db
                .query(
                    "SELECT status FROM reservations WHERE product_id = $1",
                    &[&product],
                )
                .await
                .unwrap();
            let statuses: Vec<String> = rows.iter().map(|row| row.get(0)).collect();
            (statuses == ["released"]).then_some(())
        },
    )
    .await;
    assert_eq!(shop.products.stock(product).await, 5);

    orders_db
        .batch_execute("DROP TRIGGER refuse_orders ON orders")
        .await
        .unwrap();
    let retried = shop.orders.place(&shop.customer, &body, Some("k-1")).await;
    assert_eq!(retried.status(), 201);
    assert!(retried.headers().get("idempotent-replayed").is_none());
    assert_eq!(shop.products.stock(product).await, 3);
}
