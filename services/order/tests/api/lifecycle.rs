use std::time::Duration;

use serde_json::{Value, json};
use test_infra::proxy::TcpProxy;
use test_support::{OrderServiceHandle, ProductServiceHandle, UserServiceHandle, wait_until};

use crate::{Shop, assert_problem, assert_problem_type};

async fn set_status(shop: &Shop, token: &str, id: &Value, status: &str) -> reqwest::Response {
    shop.orders
        .put(
            token,
            &format!("/orders/{id}"),
            &json!({ "status": status }),
        )
        .await
}

#[tokio::test]
async fn the_owner_cancels_a_pending_order_and_the_stock_comes_back_once() {
    let shop = Shop::start().await;
    let product = shop.product(10).await;
    let order = shop.order(product, 4).await;
    assert_eq!(shop.products.stock(product).await, 6);

    let response = set_status(&shop, &shop.customer, &order["id"], "cancelled").await;
    assert_eq!(response.status(), 200);
    let cancelled: Value = response.json().await.unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(shop.products.stock(product).await, 10);

    // A cancelled order is final; cancelling again neither succeeds nor releases again.
    let again = set_status(&shop, &shop.customer, &order["id"], "cancelled").await;
    assert_problem_type(again, 409, "urn:problem:illegal-transition").await;
    shop.orders.state.releaser.release_pending().await;
    assert_eq!(shop.products.stock(product).await, 10);

    // Deleting the cancelled order releases nothing more either.
    let deleted = shop
        .orders
        .delete(&shop.customer, &format!("/orders/{}", order["id"]))
        .await;
    assert_eq!(deleted.status(), 204);
    assert_eq!(shop.products.stock(product).await, 10);
}

#[tokio::test]
async fn fulfilment_is_for_admins_and_final_states_never_change() {
    let shop = Shop::start().await;
    let product = shop.product(10).await;
    let order = shop.order(product, 1).await;
    let id = &order["id"];

    let forbidden = set_status(&shop, &shop.customer, id, "confirmed").await;
    assert_problem(forbidden, 403).await;
    let skipping = set_status(&shop, &shop.admin, id, "shipped").await;
    assert_problem(skipping, 409).await;
    for status in ["confirmed", "shipped", "completed"] {
        let response = set_status(&shop, &shop.admin, id, status).await;
        assert_eq!(response.status(), 200, "to {status}");
    }
    for status in ["cancelled", "pending", "shipped"] {
        let response = set_status(&shop, &shop.admin, id, status).await;
        assert_problem(response, 409).await;
    }
    let delete = shop
        .orders
        .delete(&shop.admin, &format!("/orders/{id}"))
        .await;
    assert_problem_type(delete, 409, "urn:problem:order-not-deletable").await;
    assert_eq!(
        shop.products.stock(product).await,
        9,
        "a completed order keeps its stock"
    );

    let unknown = set_status(&shop, &shop.admin, id, "lost").await;
    assert_problem(unknown, 422).await;
}

#[tokio::test]
async fn deleting_a_pending_order_gives_its_stock_back() {
    let shop = Shop::start().await;
    let product = shop.product(10).await;
    let order = shop.order(product, 3).await;
    let path = format!("/orders/{}", order["id"]);
    assert_eq!(
        shop.orders.delete(&shop.customer, &path).await.status(),
        204
    );
    assert_eq!(shop.products.stock(product).await, 10);
    assert_problem(shop.orders.get_as(&shop.customer, &path).await, 404).await;
    assert_problem(shop.orders.delete(&shop.customer, &path).await, 404).await;
}

/// An Order Service that reaches the Product Service through a proxy the test can cut or hold,
/// with an admin, a customer and one product of 10 units.
struct ProxiedShop {
    /// Kept running: the other services validate tokens with it.
    _users: UserServiceHandle,
    products: ProductServiceHandle,
    proxy: TcpProxy,
    orders: OrderServiceHandle,
    customer: String,
    product: i64,
}

impl ProxiedShop {
    async fn start(extra: &[(&'static str, &str)]) -> Self {
        let users = UserServiceHandle::start().await;
        let products = ProductServiceHandle::start(&users).await;
        let proxy = TcpProxy::start(products.address).await;
        let product_url = format!("http://{}", proxy.address);
        let mut settings = vec![("PRODUCT_SERVICE_URL", product_url.as_str())];
        settings.extend_from_slice(extra);
        let orders = OrderServiceHandle::start_with(&users, &products, &settings).await;
        let (_, admin) = users.admin().await;
        let (_, customer) = users.customer().await;
        let product = products.product_with_stock(&admin, "Lamp", 10).await;
        Self {
            _users: users,
            products,
            proxy,
            orders,
            customer,
            product,
        }
    }

    /// The product's stock, read from the Product Service directly.
    async fn stock(&self) -> i64 {
        self.products.stock(self.product).await
    }
}

#[tokio::test]
async fn a_release_that_failed_is_retried_until_the_product_service_confirms() {
    let shop = ProxiedShop::start(&[("RELEASE_RETRY_INTERVAL_MS", "100")]).await;
    let (orders, proxy, product) = (&shop.orders, &shop.proxy, shop.product);
    let customer = shop.customer.clone();
    let order = orders.place_order(&customer, product, 2).await;
    let stock = || shop.stock();
    assert_eq!(stock().await, 8);

    // The Product Service is unreachable: the cancel still succeeds, the release waits.
    proxy.cut();
    let path = format!("/orders/{}", order["id"]);
    let cancelled = orders
        .put(&customer, &path, &json!({"status": "cancelled"}))
        .await;
    assert_eq!(cancelled.status(), 200);
    assert_eq!(stock().await, 8);

    proxy.restore();
    wait_until(
        "the release to be retried",
        Duration::from_secs(15),
        || async { (stock().await == 10).then_some(()) },
    )
    .await;
    // And never twice.
    assert_eq!(orders.state.releaser.release_pending().await, 0);
    assert_eq!(stock().await, 10);
}

/// The Product Service's answer to the reservation is held back; the client gives up and hangs
/// up meanwhile. The order is still placed (or its stock given back): never stock held by
/// nothing.
#[tokio::test]
async fn a_client_that_hangs_up_mid_order_leaks_no_stock() {
    let shop = ProxiedShop::start(&[("PRODUCT_TIMEOUT_MS", "30000")]).await;
    let (orders, products, proxy) = (&shop.orders, &shop.products, &shop.proxy);
    let customer = shop.customer.clone();
    let stock = || shop.stock();

    proxy.hold_answers();
    let body = json!({"product_id": shop.product, "quantity": 3});
    let placing = orders.place(&customer, &body, None);
    tokio::select! {
        response = placing => panic!("answered while the Product Service was held: {response:?}"),
        () = wait_until("stock reserved", Duration::from_secs(10), || async {
            (stock().await == 7).then_some(())
        }) => {}
    }
    // The client has hung up (its request future is gone); now the answer arrives.
    proxy.release_answers();

    let ordered_units = || async {
        let page: Value = orders
            .get_as(&customer, "/orders")
            .await
            .json()
            .await
            .unwrap();
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|order| order["quantity"].as_i64().unwrap())
            .sum::<i64>()
    };
    wait_until(
        "stock held only by orders",
        Duration::from_secs(10),
        || async { (stock().await + ordered_units().await == 10).then_some(()) },
    )
    .await;

    // And the Product Service knows which reservations are used: none is left to its sweeper.
    let client = test_support::database_client(&products.database.url).await;
    wait_until(
        "no reservation left unconfirmed",
        Duration::from_secs(10),
        || async {
            let rows = client
                .query("SELECT status FROM reservations", &[])
                .await
                .unwrap();
            rows.iter()
                .all(|row| row.get::<_, &str>("status") != "reserved")
                .then_some(())
        },
    )
    .await;
}
