//! A person's journey through the shop in a real headless Chromium, against the real services:
//! register, log in, search, open a product, buy 2 and see the order; an admin in a second
//! browser ships it and the first page shows it without reloading; cancelling gives
//! the stock back; a double-clicked checkout places one order; an out-of-stock purchase reads
//! as a sentence. Each page is saved under `target/screenshots/`.

mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::System;
use support::webdriver::{Browser, ChromeDriver, Viewport};

const TAB: &str = "\u{E004}";
/// How long a page may take to show what it waits for: only a guard against a hang, far above
/// what a loaded two-core machine needs.
const HANG_GUARD: Duration = Duration::from_secs(60);

fn screenshots() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots")
}

async fn log_in(browser: &Browser, base: &str, username: &str, password: &str) {
    browser.goto(&format!("{base}/login")).await;
    browser.fill("#username", username).await;
    browser.fill("#password", password).await;
    let submit = browser.find("form.account button[type=submit]").await;
    browser.click(&submit).await;
    browser.wait_for_text("Log out", HANG_GUARD).await;
}

/// Opens the product page through the catalogue's search, as a person would.
async fn open_product(browser: &Browser, base: &str, name: &str) {
    browser.goto(&format!("{base}/")).await;
    browser.fill("#q", name).await;
    browser
        .click(&browser.find("form.filters button").await)
        .await;
    browser.wait_for_url("q=", HANG_GUARD).await;
    browser.wait_for_text(name, HANG_GUARD).await;
    let link = browser.find("ul.products a[href^='/products/']").await;
    browser.click(&link).await;
    browser.wait_for_url("/products/", HANG_GUARD).await;
    browser.find("#buy").await;
}

/// Buys `quantity` of the open product and returns the order page's URL.
async fn buy(browser: &Browser, quantity: &str) -> String {
    browser.fill("#quantity", quantity).await;
    browser.click(&browser.find("#buy").await).await;
    browser
        .wait_for_text("Your order is placed", HANG_GUARD)
        .await;
    browser.current_url().await
}

async fn order_count(system: &System, token: &str) -> usize {
    let response = system.orders.get_as(token, "/orders").await;
    let body: Value = response.json().await.expect("orders JSON");
    body["items"].as_array().map_or(0, Vec::len)
}

/// Checkout requests the storefront has answered (any status).
async fn checkout_posts(system: &System) -> f64 {
    let metrics = test_support::http_client()
        .get(system.storefront.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    metrics
        .lines()
        .filter(|line| {
            line.starts_with("http_requests_total{") && line.contains("route=\"/checkout\"")
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_customer_shops_and_sees_the_order_ship_live() {
    let system = System::start().await;
    let base = system.storefront.base_url.clone();
    let shots = screenshots();
    let (admin_name, admin_token) = system.users.admin().await;
    let desk = system
        .products
        .product_with_stock(&admin_token, "Walnut desk", 10)
        .await;
    let chair = system
        .products
        .product_with_stock(&admin_token, "Oak chair", 5)
        .await;
    system
        .products
        .product_with_stock(&admin_token, "Rare lamp", 1)
        .await;
    let driver = ChromeDriver::start().await;
    let customer = Browser::open(&driver, Viewport::Desktop).await;

    // Register (which logs in), log out, log in again.
    let username = format!("shopper{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    customer.goto(&format!("{base}/register")).await;
    customer.screenshot(&shots, "register").await;
    customer.fill("#username", &username).await;
    customer.fill("#password", "shopper-password").await;
    customer
        .click(&customer.find("form.account button").await)
        .await;
    customer
        .wait_for_text(&format!("Log out {username}"), HANG_GUARD)
        .await;
    customer
        .click(&customer.find("nav form button").await)
        .await;
    customer.wait_for_text("Log in", HANG_GUARD).await;
    log_in(&customer, &base, &username, "shopper-password").await;
    customer.screenshot(&shots, "catalogue").await;
    let shift = customer.layout_shift().await;
    assert_eq!(shift.total, 0.0, "layout shift on the catalogue: {shift:?}");

    // Search, open the desk, buy 2, see the order.
    open_product(&customer, &base, "Walnut").await;
    assert_eq!(customer.title().await, "Walnut desk · Shop");
    assert!(
        !customer
            .execute("return document.body.innerText")
            .await
            .as_str()
            .unwrap()
            .contains("Oak chair")
    );
    customer.screenshot(&shots, "product").await;
    let order_url = buy(&customer, "2").await;
    assert!(customer.text("#quantity").await.contains('2'));
    assert_eq!(customer.text("span.status").await, "Pending");
    customer.screenshot(&shots, "order").await;
    let token = system.users.login(&username, "shopper-password").await;
    let order_id: i64 = order_url
        .rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .parse()
        .unwrap();

    // The admin confirms and ships it in a second browser; the customer's page follows live.
    customer
        .execute("window.notReloaded = true; return null")
        .await;
    let admin = Browser::open(&driver, Viewport::Desktop).await;
    log_in(&admin, &base, &admin_name, "admin-password").await;
    admin
        .goto(&format!("{base}/admin/orders?order={order_id}"))
        .await;
    admin
        .click(
            &admin
                .find(&format!("button[aria-label='Confirm order {order_id}']"))
                .await,
        )
        .await;
    admin
        .wait_for_text(&format!("Order #{order_id} updated"), HANG_GUARD)
        .await;
    customer.wait_for_text("Confirmed", HANG_GUARD).await;
    admin.screenshot(&shots, "admin-fulfilment").await;
    let ship = admin
        .find(&format!(
            "button[aria-label='Mark shipped order {order_id}']"
        ))
        .await;
    let shipped_at = Instant::now();
    admin.click(&ship).await;
    // Live means pushed into the open page: the status arrives and the page was never
    // reloaded. How fast is not asserted (a loaded machine decides that, not the code); it is
    // printed below.
    customer.wait_for_text("Shipped", HANG_GUARD).await;
    let seen_after = shipped_at.elapsed();
    assert_eq!(
        customer.execute("return window.notReloaded === true").await,
        Value::Bool(true),
        "the status reached the page without a reload"
    );
    let cancel_shown = customer
        .execute(&format!(
            "return getComputedStyle(document.querySelector(\"[data-cancel='{order_id}']\")).display"
        ))
        .await;
    assert_eq!(
        cancel_shown,
        Value::String("none".into()),
        "a shipped order cannot be cancelled"
    );
    customer.screenshot(&shots, "order-shipped").await;
    // The live-status line has its space from the start and updates change text in place:
    // nothing on the page moved while it followed the order.
    let shift = customer.layout_shift().await;
    assert_eq!(
        shift.total, 0.0,
        "layout shift on the order page: {shift:?}"
    );
    eprintln!("shipped status on the customer's page {seen_after:?} after the admin's click");

    // Cancel another order: the stock comes back.
    open_product(&customer, &base, "Oak").await;
    buy(&customer, "3").await;
    assert_eq!(system.products.stock(chair).await, 2);
    customer.goto(&format!("{base}/orders")).await;
    customer.screenshot(&shots, "my-orders").await;
    let cancel = customer.find("form.cancel:not([hidden]) button").await;
    customer.click(&cancel).await;
    customer
        .wait_for_text("its stock is back on sale", HANG_GUARD)
        .await;
    assert_eq!(system.products.stock(chair).await, 5);

    // A double-clicked checkout places one order. Chrome itself sends only one of two quick
    // submissions of a form; the same form submitted twice in parallel (as a browser that
    // does not coalesce, a retry or a second tab would) must not place two either.
    let before = order_count(&system, &token).await;
    open_product(&customer, &base, "Walnut").await;
    customer.fill("#quantity", "1").await;
    let posts_before = checkout_posts(&system).await;
    let landed = customer
        .execute_async(
            "const done = arguments[0]; const form = document.querySelector('form.buy');\
             const send = () => fetch(form.action, {method: 'POST', body: new URLSearchParams(new FormData(form))})\
               .then(response => response.url);\
             Promise.all([send(), send()]).then(done);",
        )
        .await;
    assert_eq!(checkout_posts(&system).await - posts_before, 2.0);
    assert_eq!(landed[0], landed[1], "both submissions show the same order");
    assert_eq!(order_count(&system, &token).await, before + 1);
    customer.double_click(&customer.find("#buy").await).await;
    customer
        .wait_for_text("Your order is placed", HANG_GUARD)
        .await;
    assert_eq!(customer.current_url().await, landed[0].as_str().unwrap());
    assert_eq!(order_count(&system, &token).await, before + 1);
    assert_eq!(system.products.stock(desk).await, 10 - 2 - 1);

    // Out of stock: a sentence, not a document.
    open_product(&customer, &base, "Rare lamp").await;
    customer.fill("#quantity", "5").await;
    customer.click(&customer.find("#buy").await).await;
    customer.wait_for_text("not enough stock", HANG_GUARD).await;
    let page = customer.execute("return document.body.innerText").await;
    assert!(!page.as_str().unwrap().contains("urn:problem"), "{page}");
    customer.screenshot(&shots, "out-of-stock").await;

    // Phone-sized: readable without sideways scrolling; keyboard: the skip link comes first.
    let phone = Browser::open(&driver, Viewport::Phone).await;
    log_in(&phone, &base, &username, "shopper-password").await;
    phone.goto(&format!("{base}/orders")).await;
    let fits = phone
        .execute("return document.documentElement.scrollWidth <= window.innerWidth")
        .await;
    assert_eq!(fits, Value::Bool(true));
    phone.screenshot(&shots, "my-orders-phone").await;
    phone.goto(&format!("{base}/")).await;
    phone.keys(TAB).await;
    let focused = phone
        .execute("return document.activeElement.className")
        .await;
    assert_eq!(focused, Value::String("skip".into()));
    let unlabelled = phone
        .execute(
            "return [...document.querySelectorAll('input:not([type=hidden]), textarea')]\
             .filter(e => e.labels.length === 0).length",
        )
        .await;
    assert_eq!(unlabelled, Value::from(0));

    for browser in [customer, admin, phone] {
        browser.quit().await;
    }
    assert!(order_count(&system, &token).await >= 2);
}
