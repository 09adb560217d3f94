//! `kill -9` of one replica of every service while clients keep ordering: no order and no
//! event may be lost, and none placed twice. Clients retry a failed order with the same
//! `Idempotency-Key`, as the README tells them to, and send every order once more as a client
//! whose answer was lost would; the order database must then hold exactly the orders the
//! clients got. The figures (failed requests, time until the gateway stopped routing to the
//! dead replicas) are printed for docs/scaling.md.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use test_infra::webhook_sink::WebhookSink;
use test_support::wait_until;

use crate::events::{assert_once_in_order, delete_stream, stored_events};
use crate::harness::{Cluster, Role};

/// What one client saw: the orders it got, and how many of its requests failed on the way.
#[derive(Debug, Default)]
struct ClientTally {
    orders: Vec<i64>,
    failed_requests: usize,
    /// Failed requests by what the client saw: a status code or "no response".
    failures: BTreeMap<String, usize>,
}

/// Places orders one after another until `stop`. Each is sent until it succeeds, then sent
/// once more with the same key until that succeeds too, as by a client whose first answer was
/// lost (a killed replica loses answers too, but only now and then): only the last answer's
/// order is kept, so an order placed twice leaves one the client never learns of.
async fn order_stream(
    cluster: &Cluster,
    token: &str,
    product: i64,
    stop: &AtomicBool,
) -> ClientTally {
    let mut tally = ClientTally::default();
    while !stop.load(Ordering::Relaxed) {
        let key = uuid::Uuid::new_v4().to_string();
        let _lost = place_with_key(cluster, token, product, &key, &mut tally).await;
        let placed = place_with_key(cluster, token, product, &key, &mut tally).await;
        tally.orders.push(placed);
    }
    tally
}

/// Sends one order with `key` until it succeeds (a key claimed by a killed replica is free
/// again after `IDEMPOTENCY_STALE_CLAIM_SECS`), counting the failed attempts; the order's id.
/// Retries stop only at the hang guard: how long the retries take is not what this tests.
async fn place_with_key(
    cluster: &Cluster,
    token: &str,
    product: i64,
    key: &str,
    tally: &mut ClientTally,
) -> i64 {
    let mut placed = None;
    let mut last_failure = String::new();
    let started = Instant::now();
    while started.elapsed() < test_support::HANG_GUARD {
        let response = cluster
            .client
            .post(cluster.url("/orders"))
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .json(&json!({"product_id": product, "quantity": 1}))
            .send()
            .await;
        match response {
            Ok(response) if response.status().is_success() => {
                let body: Value = response.json().await.expect("order JSON");
                placed = body["id"].as_i64();
                break;
            }
            Ok(response) => {
                let status = response.status();
                *tally
                    .failures
                    .entry(status.as_u16().to_string())
                    .or_default() += 1;
                last_failure = format!("{status} {}", response.text().await.unwrap_or_default());
            }
            Err(error) => {
                *tally.failures.entry("no response".into()).or_default() += 1;
                last_failure = error.to_string();
            }
        }
        tally.failed_requests += 1;
        // Back off a little, as a client would, before retrying with the same key.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    placed.unwrap_or_else(|| {
        panic!(
            "no order within {:?}; last: {last_failure}",
            test_support::HANG_GUARD
        )
    })
}

/// Order ids the webhook sink has been notified about.
fn notified_orders(sink: &WebhookSink) -> BTreeSet<i64> {
    sink.received()
        .iter()
        .filter_map(|hook| hook.json()["order"]["id"].as_i64())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_one_replica_of_each_service_loses_no_order_and_no_event() {
    let _serial = crate::harness::SERIAL.lock().await;
    let sink = WebhookSink::start().await;
    let cluster = Cluster::start(&sink.url).await;
    let admin = cluster.admin_token().await;
    let product = cluster.product(&admin, 100_000).await;
    let (username, customer) = cluster.customer().await;
    let stop = AtomicBool::new(false);

    let clients = futures_util::future::join_all(
        (0..2).map(|_| order_stream(&cluster, &customer, product, &stop)),
    );
    let chaos = async {
        wait_until("orders flowing", Duration::from_secs(30), || async {
            (notified_orders(&sink).len() >= 10).then_some(())
        })
        .await;
        let killed_at = Instant::now();
        for role in Role::ALL {
            cluster
                .replicas_of(role)
                .next()
                .expect("a first replica")
                .kill()
                .await;
        }
        wait_until(
            "the gateway to stop routing to the dead replicas",
            Duration::from_secs(15),
            || async {
                for backend in ["user", "product", "order"] {
                    if cluster.servers_up(backend).await != Some(1) {
                        return None;
                    }
                }
                Some(())
            },
        )
        .await;
        let routing_stopped = killed_at.elapsed();
        // Keep ordering on the survivors for a while.
        let before = notified_orders(&sink).len();
        wait_until(
            "orders on the survivors",
            Duration::from_secs(30),
            || async { (notified_orders(&sink).len() >= before + 20).then_some(()) },
        )
        .await;
        stop.store(true, Ordering::Relaxed);
        routing_stopped
    };
    let (tallies, routing_stopped) = tokio::join!(clients, chaos);

    let orders: Vec<i64> = tallies
        .iter()
        .flat_map(|tally| tally.orders.clone())
        .collect();
    let failed: usize = tallies.iter().map(|tally| tally.failed_requests).sum();
    let mut failures: BTreeMap<&str, usize> = BTreeMap::new();
    for (kind, count) in tallies.iter().flat_map(|tally| tally.failures.iter()) {
        *failures.entry(kind).or_default() += count;
    }
    let distinct: BTreeSet<i64> = orders.iter().copied().collect();
    assert_eq!(distinct.len(), orders.len(), "two keys got one order");
    // The clients know only the orders they got; a retry that placed a second order left a row
    // they never saw. So count the rows.
    let stored = cluster
        .sql_i64(
            "orders",
            &format!("SELECT count(*) FROM orders WHERE username = '{username}'"),
        )
        .await;
    let stored_keys = cluster
        .sql_i64(
            "orders",
            "SELECT count(*) FROM idempotency_keys WHERE order_id IS NOT NULL",
        )
        .await;
    assert_eq!(
        (stored, stored_keys),
        (orders.len() as i64, orders.len() as i64),
        "(order rows, keys with an order) for {} orders the clients got: a retried order was \
         placed twice",
        orders.len()
    );
    eprintln!(
        "replica loss: {} orders, {failed} failed client requests (retried; by status: \
         {failures:?}), gateway stopped routing to the killed replicas after {} ms",
        orders.len(),
        routing_stopped.as_millis()
    );
    assert!(
        routing_stopped < Duration::from_secs(10),
        "the gateway kept routing to dead replicas for {routing_stopped:?}"
    );

    // Every order exists, once in JetStream, and was notified.
    for id in &distinct {
        let response = cluster
            .client
            .get(cluster.url(&format!("/orders/{id}")))
            .bearer_auth(&customer)
            .send()
            .await
            .expect("read order");
        assert_eq!(response.status(), 200, "order {id} was lost");
    }
    let expected: BTreeMap<i64, Vec<&str>> = distinct
        .iter()
        .map(|id| (*id, vec!["order.created"]))
        .collect();
    let stored = wait_until(
        "every order's event in JetStream",
        Duration::from_secs(60),
        || async {
            let stored = stored_events(&cluster).await;
            (stored.len() >= expected.len()).then_some(stored)
        },
    )
    .await;
    assert_once_in_order(&stored, &cluster, &expected);
    wait_until(
        "a notification for every order",
        Duration::from_secs(60),
        || async { distinct.is_subset(&notified_orders(&sink)).then_some(()) },
    )
    .await;
    delete_stream(&cluster).await;
}
