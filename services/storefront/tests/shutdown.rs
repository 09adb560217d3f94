//! SIGTERM to the real `storefront` binary under the production profile: a page being rendered
//! when the signal arrives is answered whole, open live streams end at once (so the drain
//! never waits on them), new connections are refused, and the process exits 0.
//!
//! The page in flight waits on the Product Service, whose answers a proxy holds back for as
//! long as the test wants, whatever the machine's speed.

mod support;

use std::time::Duration;

use support::sse::EventReader;
use support::{REDIS_URL, System, csrf_secret, storefront_session};
use test_infra::process::ServiceProcess;
use test_infra::proxy::TcpProxy;
use test_support::wait_until;

/// Longer than anything the test waits for: neither the drain deadline nor the API timeout is
/// what ends the page in flight.
const PATIENT_SECS: &str = "300";
/// Against a hang only.
const GUARD: Duration = Duration::from_secs(60);

/// The settings of a replica of `system` running as a process, its catalogue read through
/// `products`.
fn replica_settings(system: &System, products: &TcpProxy) -> Vec<(&'static str, String)> {
    let mut settings = system.storefront_settings();
    settings.retain(|(key, _)| !matches!(*key, "PRODUCT_SERVICE_URL" | "STOREFRONT_CONSUMER"));
    settings.extend([
        (
            "PRODUCT_SERVICE_URL",
            format!("http://{}", products.address),
        ),
        (
            "STOREFRONT_CONSUMER",
            format!("storefront-process-{}", uuid::Uuid::new_v4().simple()),
        ),
        ("REDIS_URL", REDIS_URL.to_owned()),
        ("STOREFRONT_CSRF_SECRET", csrf_secret()),
        ("STOREFRONT_API_TIMEOUT_MS", format!("{PATIENT_SECS}000")),
        ("SHUTDOWN_TIMEOUT_SECS", PATIENT_SECS.to_owned()),
    ]);
    settings
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_answers_the_page_in_flight_and_ends_open_live_streams() {
    let system = System::start().await;
    let (_, admin) = system.users.admin().await;
    let (name, _) = system.users.customer().await;
    system
        .products
        .product_with_stock(&admin, "Drain lamp", 3)
        .await;
    // Sessions live in the shared store: one made on the in-process replica is good on all.
    let session = storefront_session(&system.storefront, &name, "customer-password").await;
    let products = TcpProxy::start(system.products.address).await;
    let storefront = ServiceProcess::start(
        env!("CARGO_BIN_EXE_storefront"),
        &replica_settings(&system, &products),
    )
    .await;

    let mut live = EventReader::open_at(&storefront.base_url, &session, None).await;
    let first = live.next(GUARD).await;
    assert_eq!(first.name, "live", "the stream starts with the live state");
    let before = storefront
        .requests_in_flight()
        .await
        .expect("the metrics answer");
    products.hold_answers();
    // A client of its own, without a timeout: the page is held as long as the test wants.
    let rendering = tokio::spawn({
        let url = storefront.url("/");
        async move {
            let client = reqwest::Client::builder().no_proxy().build().unwrap();
            let response = client.get(url).send().await.expect("the page is answered");
            let status = response.status();
            (status, response.text().await.expect("a whole page"))
        }
    });
    storefront.wait_in_flight(before + 1.0).await;

    storefront.terminate().await;
    live.ends_cleanly(GUARD).await;
    wait_until("new connections to be refused", GUARD, || async {
        storefront.refuses_connections().await.then_some(())
    })
    .await;
    assert!(!rendering.is_finished(), "the page is still held");

    products.release_answers();
    let (status, page) = rendering.await.expect("the rendering task ends");
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Drain lamp"), "the catalogue: {page}");
    assert!(page.trim_end().ends_with("</html>"), "a whole page: {page}");
    let exit = storefront.exit_status().await;
    assert!(exit.success(), "{exit}");
}
