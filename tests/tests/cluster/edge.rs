//! The gateway as clients meet it: the public flows work through it, nothing internal is
//! reachable, every replica serves fresh data, and per-client limits see the real client.

use std::net::IpAddr;

use serde_json::{Value, json};
use test_infra::webhook_sink::WebhookSink;

use crate::harness::{Cluster, Role, https_client_builder};

/// A client whose connections leave from `source` (any 127/8 address works on loopback).
pub(crate) fn client_from(cluster: &Cluster, source: &str) -> reqwest::Client {
    https_client_builder(&cluster.tls)
        .local_address(source.parse::<IpAddr>().expect("loopback address"))
        .build()
        .expect("client")
}

/// The answer is the gateway's own 404: no router matched, so no service saw the request.
async fn assert_not_routed(cluster: &Cluster, method: reqwest::Method, path: &str) {
    let response = cluster
        .client
        .request(method.clone(), cluster.url(path))
        .header("X-Service-Token", &cluster.identity.service_token)
        .json(&json!({}))
        .send()
        .await
        .expect("gateway answers");
    let status = response.status();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body: Value = response.json().await.unwrap_or_default();
    assert_eq!(status, 404, "{method} {path} must not be routed: {body}");
    assert_eq!(content_type, "application/problem+json");
    // The gateway's own words (gateway/haproxy/routes.cfg); no service says this.
    assert_eq!(
        body["detail"], "no public route for this path",
        "{method} {path} reached a service: {body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn only_the_public_api_is_reachable_and_every_replica_serves_fresh_data() {
    let _serial = crate::harness::SERIAL.lock().await;
    let sink = WebhookSink::start().await;
    let cluster = Cluster::start(&sink.url).await;
    let (_, customer) = cluster.customer().await;
    let admin = cluster.admin_token().await;
    let product = cluster.product(&admin, 50).await;

    // The public flows: catalogue, order, cancel.
    let listing = cluster.get("/products").await;
    assert_eq!(listing.status(), 200);
    let order: Value = {
        let response = cluster
            .client
            .post(cluster.url("/orders"))
            .bearer_auth(&customer)
            .json(&json!({"product_id": product, "quantity": 2}))
            .send()
            .await
            .expect("order");
        assert_eq!(
            response.status(),
            201,
            "placing an order through the gateway"
        );
        response.json().await.expect("order JSON")
    };
    let order_url = cluster.url(&format!("/orders/{}", order["id"]));
    let cancelled = cluster
        .client
        .put(&order_url)
        .bearer_auth(&customer)
        .json(&json!({"status": "cancelled"}))
        .send()
        .await
        .expect("cancel");
    assert_eq!(cancelled.status(), 200, "cancelling through the gateway");
    let mine = cluster
        .client
        .get(cluster.url("/orders"))
        .bearer_auth(&customer)
        .send()
        .await
        .expect("orders");
    assert_eq!(mine.status(), 200);

    // Internal and operational routes, and services without a public API.
    for path in [
        "/internal/reservations",
        "/metrics",
        "/health",
        "/health/ready",
        "/validate-token",
        "/docs",
        "/openapi.json",
        "/products/../internal/reservations",
        "/products/%2e%2e/metrics",
    ] {
        assert_not_routed(&cluster, reqwest::Method::GET, path).await;
    }
    // A path the API does not have falls through to the shop's own 404 page, never to the
    // product service.
    let other = cluster.get("/productsx").await;
    assert_eq!(other.status(), 404);
    let kind = other
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        kind.starts_with("text/html"),
        "/productsx reached an API ({kind})"
    );
    assert_not_routed(&cluster, reqwest::Method::POST, "/internal/reservations").await;

    // Ten updates, each read back through the gateway four times (round robin: twice from
    // each replica) and never stale.
    for round in 0..10_i64 {
        let quantity = 100 + round;
        let response = cluster
            .client
            .put(cluster.url(&format!("/products/{product}")))
            .bearer_auth(&admin)
            .json(&json!({"quantity": quantity}))
            .send()
            .await
            .expect("update");
        assert_eq!(response.status(), 200, "updating through the gateway");
        for read in 0..4 {
            let body: Value = cluster.get_json(&format!("/products/{product}")).await;
            assert_eq!(
                body["quantity"], quantity,
                "read {read} after update {round} was stale"
            );
        }
    }
    // Both replicas really served reads (their own metrics, read directly).
    for replica in cluster.replicas_of(Role::Product) {
        let metrics = cluster
            .client
            .get(format!("{}/metrics", replica.url))
            .send()
            .await
            .expect("metrics");
        let text = metrics.text().await.expect("metrics text");
        let reads: f64 = text
            .lines()
            .filter(|line| {
                line.starts_with("http_requests_total{")
                    && line.contains("route=\"/products/{id}\"")
                    && line.contains("method=\"GET\"")
            })
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        assert!(
            reads >= 10.0,
            "replica {} served {reads} reads",
            replica.url
        );
    }
}

/// Logs `username` in through the gateway from `client`, with extra (forged) headers; the
/// status.
pub(crate) async fn login_status(
    cluster: &Cluster,
    client: &reqwest::Client,
    credentials: (&str, &str),
    forged: &[(&str, &str)],
) -> u16 {
    let login_url = cluster.url("/login");
    test_support::login_status(client, &login_url, credentials, forged).await
}

/// Logs in as `username` with a wrong password from `client`; the status.
async fn failed_login(
    cluster: &Cluster,
    client: &reqwest::Client,
    username: &str,
    forged: &[(&str, &str)],
) -> u16 {
    login_status(cluster, client, (username, "wrong-password"), forged).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn clients_behind_the_gateway_are_throttled_by_their_own_address() {
    let _serial = crate::harness::SERIAL.lock().await;
    let sink = WebhookSink::start().await;
    let cluster = Cluster::start(&sink.url).await;
    let (username, _) = cluster.customer().await;
    let guesser = client_from(&cluster, "127.0.0.2");
    let neighbour = client_from(&cluster, "127.0.0.3");

    // Failures for one account from one address until every replica refuses that pair
    // (bounded: LOGIN_MAX_FAILURES is 5, counted for both replicas in Redis).
    let mut refused_in_a_row = 0;
    for _ in 0..14 {
        let status = failed_login(&cluster, &guesser, &username, &[]).await;
        assert!(matches!(status, 401 | 429), "unexpected {status}");
        refused_in_a_row = if status == 429 {
            refused_in_a_row + 1
        } else {
            0
        };
        if refused_in_a_row == 2 {
            break;
        }
    }
    assert_eq!(
        refused_in_a_row, 2,
        "the guessing address was never locked out"
    );

    // A forged X-Forwarded-For or X-Client-IP changes nothing: the gateway does not trust
    // its client, and X-Client-IP counts only beside the service token...
    for forged in [
        ("X-Forwarded-For", "127.0.0.9"),
        ("X-Client-IP", "127.0.0.9"),
    ] {
        for _ in 0..2 {
            assert_eq!(
                failed_login(&cluster, &guesser, &username, &[forged]).await,
                429,
                "{} unlocked the guesser",
                forged.0
            );
        }
    }
    // ...and a replica does not trust a peer that is not the gateway.
    for replica in cluster.replicas_of(Role::User) {
        let status = guesser
            .post(format!("{}/login", replica.url))
            .header("X-Forwarded-For", "127.0.0.10")
            .header("X-Client-IP", "127.0.0.10")
            .json(&json!({"username": username, "password": "wrong-password"}))
            .send()
            .await
            .expect("direct login")
            .status();
        assert_eq!(
            status, 429,
            "a forged header from an untrusted peer unlocked {}",
            replica.url
        );
    }

    // The owner, on another address, is not locked out by the guesser.
    for _ in 0..2 {
        let credentials = (username.as_str(), "customer-password");
        let status = login_status(&cluster, &neighbour, credentials, &[]).await;
        assert_eq!(status, 200, "the owner was throttled for the guesser");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_gateway_rate_limits_credential_endpoints_per_client() {
    let _serial = crate::harness::SERIAL.lock().await;
    let sink = WebhookSink::start().await;
    let cluster = Cluster::start(&sink.url).await;
    let flooder = client_from(&cluster, "127.0.0.4");
    let mut limited = 0;
    for _ in 0..40 {
        let response = flooder
            .post(cluster.url("/register"))
            .json(&json!({"username": "x", "password": "short"}))
            .send()
            .await
            .expect("register");
        if response.status() == 429 {
            limited += 1;
        } else {
            assert_eq!(response.status(), 422, "an invalid registration");
        }
    }
    assert!(
        limited >= 5,
        "only {limited} of 40 registrations were rate limited"
    );
    // Another address still gets through.
    let response = client_from(&cluster, "127.0.0.5")
        .post(cluster.url("/register"))
        .json(&json!({"username": "x", "password": "short"}))
        .send()
        .await
        .expect("register");
    assert_eq!(response.status(), 422);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failed_logins_spread_over_both_replicas_lock_the_pair_at_the_limit() {
    let _serial = crate::harness::SERIAL.lock().await;
    let sink = WebhookSink::start().await;
    let cluster = Cluster::start(&sink.url).await;
    let (username, _) = cluster.customer().await;
    let guesser = client_from(&cluster, "127.0.0.11");
    // Five wrong passwords (LOGIN_MAX_FAILURES) from one address; round robin spreads them
    // over both user replicas, which count them together.
    for n in 0..5 {
        let status = failed_login(&cluster, &guesser, &username, &[]).await;
        assert_eq!(status, 401, "failure {n}");
    }
    // The right password from that address, on either replica: refused at the limit.
    for attempt in 0..2 {
        let credentials = (username.as_str(), "customer-password");
        let status = login_status(&cluster, &guesser, credentials, &[]).await;
        assert_eq!(
            status, 429,
            "the pair was not locked at the limit (attempt {attempt})"
        );
    }
    // The account itself stays open: from another address the password works, twice.
    for attempt in 0..2 {
        let owner = client_from(&cluster, "127.0.0.12");
        let credentials = (username.as_str(), "customer-password");
        let status = login_status(&cluster, &owner, credentials, &[]).await;
        assert_eq!(status, 200, "the owner was locked out (attempt {attempt})");
    }
}
