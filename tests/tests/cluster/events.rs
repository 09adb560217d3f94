//! Events across replicas: two outbox relays, two notification consumers and two bridges share
//! the work, and every event still reaches JetStream once, in order per order.

use std::collections::BTreeMap;
use std::time::Duration;

use async_nats::jetstream;
use serde_json::{Value, json};
use test_infra::webhook_sink::WebhookSink;
use test_support::wait_until;

use crate::harness::{Cluster, NATS_URL};

/// One stored JetStream message: (subject, event id, order id).
pub type Stored = (String, String, i64);

/// Every message of the cluster's stream, in stream order.
pub async fn stored_events(cluster: &Cluster) -> Vec<Stored> {
    let client = async_nats::connect(NATS_URL).await.expect("NATS");
    let context = jetstream::new(client);
    let Ok(stream) = context.get_stream(&cluster.identity.stream).await else {
        return Vec::new();
    };
    let state = stream.cached_info().state.clone();
    let mut stored = Vec::new();
    if state.messages == 0 {
        return stored;
    }
    for sequence in state.first_sequence..=state.last_sequence {
        let Ok(message) = stream.get_raw_message(sequence).await else {
            continue;
        };
        let body: Value = serde_json::from_slice(&message.payload).expect("event JSON");
        stored.push((
            message.subject.to_string(),
            body["event_id"].as_str().expect("event_id").to_owned(),
            body["order"]["id"].as_i64().expect("order id"),
        ));
    }
    stored
}

/// Deletes the cluster's stream (the shared NATS keeps nothing of a test).
pub async fn delete_stream(cluster: &Cluster) {
    if let Ok(client) = async_nats::connect(NATS_URL).await {
        let _ = jetstream::new(client)
            .delete_stream(&cluster.identity.stream)
            .await;
    }
}

/// Asserts each event id is stored once and each order's events are in the order given by
/// `expected` (order id → subjects' last segments).
pub fn assert_once_in_order(
    stored: &[Stored],
    cluster: &Cluster,
    expected: &BTreeMap<i64, Vec<&str>>,
) {
    let mut ids: Vec<&str> = stored.iter().map(|(_, id, _)| id.as_str()).collect();
    ids.sort_unstable();
    let before = ids.len();
    ids.dedup();
    assert_eq!(before, ids.len(), "an event was stored twice in JetStream");
    let prefix = format!("{}.", cluster.identity.subject_prefix);
    let mut per_order: BTreeMap<i64, Vec<&str>> = BTreeMap::new();
    for (subject, _, order) in stored {
        let key = subject
            .strip_prefix(&prefix)
            .expect("the cluster's subjects");
        per_order.entry(*order).or_default().push(key);
    }
    assert_eq!(&per_order, expected, "events per order, in stream order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_event_reaches_jetstream_once_in_order_with_two_relays_and_two_bridges() {
    let _serial = crate::harness::SERIAL.lock().await;
    let sink = WebhookSink::start().await;
    let cluster = Cluster::start(&sink.url).await;
    let admin = cluster.admin_token().await;
    let product = cluster.product(&admin, 1_000).await;
    let (_, customer) = cluster.customer().await;

    // Orders from two concurrent clients, so both order replicas (and their relays) commit
    // events at the same time; every third is cancelled right away.
    let mut expected: BTreeMap<i64, Vec<&str>> = BTreeMap::new();
    let placed = futures_util::future::join_all((0..2).map(|_| async {
        let mut mine = Vec::new();
        for n in 0..15 {
            let response = cluster
                .client
                .post(cluster.url("/orders"))
                .bearer_auth(&customer)
                .json(&json!({"product_id": product, "quantity": 1}))
                .send()
                .await
                .expect("order");
            assert_eq!(response.status(), 201);
            let id = response.json::<Value>().await.expect("order JSON")["id"]
                .as_i64()
                .expect("id");
            let cancel = n % 3 == 0;
            if cancel {
                let response = cluster
                    .client
                    .put(cluster.url(&format!("/orders/{id}")))
                    .bearer_auth(&customer)
                    .json(&json!({"status": "cancelled"}))
                    .send()
                    .await
                    .expect("cancel");
                assert_eq!(response.status(), 200);
            }
            mine.push((id, cancel));
        }
        mine
    }))
    .await;
    for (id, cancelled) in placed.into_iter().flatten() {
        let keys = if cancelled {
            vec!["order.created", "order.status_changed"]
        } else {
            vec!["order.created"]
        };
        expected.insert(id, keys);
    }
    let total: usize = expected.values().map(Vec::len).sum();

    let stored = wait_until(
        &format!("{total} events in JetStream"),
        Duration::from_secs(30),
        || async {
            let stored = stored_events(&cluster).await;
            (stored.len() >= total).then_some(stored)
        },
    )
    .await;
    assert_once_in_order(&stored, &cluster, &expected);
    delete_stream(&cluster).await;
}

/// `notifications_handled` of one replica, all outcomes.
async fn handled(cluster: &Cluster, url: &str) -> f64 {
    let Ok(response) = cluster.client.get(format!("{url}/metrics")).send().await else {
        return 0.0;
    };
    let text = response.text().await.unwrap_or_default();
    text.lines()
        .filter(|line| line.starts_with("notifications_handled_total{"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_event_delivered_to_both_notification_replicas_notifies_once() {
    let _serial = crate::harness::SERIAL.lock().await;
    let sink = WebhookSink::start().await;
    let cluster = Cluster::start(&sink.url).await;
    let broker = test_support::broker::TestBroker::connect().await;
    let event = test_support::broker::order_created(4242);
    let event_id = event["event_id"].as_str().expect("event id").to_owned();
    // Four copies of one event (a republished outbox row, redeliveries): the queue's round
    // robin hands copies to both replicas.
    for _ in 0..4 {
        broker
            .publish_event(&cluster.identity.exchange, &event, None)
            .await;
    }
    let replicas: Vec<String> = cluster
        .replicas_of(crate::harness::Role::Notification)
        .map(|replica| replica.url.clone())
        .collect();
    wait_until(
        "all four copies handled",
        Duration::from_secs(30),
        || async {
            let mut total = 0.0;
            for url in &replicas {
                total += handled(&cluster, url).await;
            }
            (total >= 4.0).then_some(())
        },
    )
    .await;
    for url in &replicas {
        assert!(
            handled(&cluster, url).await >= 1.0,
            "{url} handled no copy: the test proves nothing"
        );
    }
    let sent: Vec<_> = sink
        .received()
        .into_iter()
        .filter(|hook| hook.json()["event_id"] == event_id)
        .collect();
    assert_eq!(sent.len(), 1, "one event, notified {} times", sent.len());
    broker.close().await;
    delete_stream(&cluster).await;
}
