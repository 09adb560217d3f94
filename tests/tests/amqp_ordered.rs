//! `consume_ordered` against the real broker: lanes (per routing key, or the caller's) run
//! concurrently, each in queue order, and an unsettled delivery comes back before anything
//! behind it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use lapin::BasicProperties;
use lapin::options::BasicAckOptions;
use prometheus_client::metrics::gauge::Gauge;
use shop_amqp::{self, AmqpConfig, AmqpLink, OrderedConsumer, Settlement, Topology};
use shop_config::Secret;
use test_support::broker::{private_topology, service_url};
use test_support::wait_until;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

fn topology(exchange: String, queue: String) -> Topology {
    private_topology(exchange, queue, Some(16))
}

struct Setup {
    link: Arc<AmqpLink>,
    publisher: Arc<AmqpLink>,
    exchange: String,
    consumer: OrderedConsumer,
}

async fn setup() -> Setup {
    test_support::init();
    let id = uuid::Uuid::new_v4().simple().to_string();
    let (exchange, queue) = (format!("test.ordered.{id}"), format!("test.ordered.{id}"));
    let config = AmqpConfig {
        amqp_url: Secret::new(service_url()),
        amqp_timeout_ms: 2_000,
    };
    let link = AmqpLink::new(
        &config,
        "test-ordered",
        false,
        topology(exchange.clone(), queue.clone()),
    );
    let publisher = AmqpLink::new(
        &config,
        "test-publisher",
        true,
        topology(exchange.clone(), queue.clone()),
    );
    publisher.channel().await.expect("broker reachable");
    Setup {
        link,
        publisher,
        exchange,
        consumer: OrderedConsumer {
            queue,
            consumer_tag: "test-ordered".into(),
            max_in_flight: 16,
            drain: Duration::from_secs(5),
            in_flight: Gauge::default(),
            lane: None,
        },
    }
}

impl Setup {
    async fn publish(&self, routing_key: &str, body: &str) {
        self.publisher
            .publish_confirmed(
                &self.exchange,
                routing_key,
                body.as_bytes(),
                BasicProperties::default(),
            )
            .await
            .unwrap();
    }
}

type Log = Arc<Mutex<Vec<(String, bool)>>>;

fn handled(log: &Log, key_prefix: &str) -> Vec<(String, bool)> {
    log.lock()
        .unwrap()
        .iter()
        .filter(|(body, _)| body.starts_with(key_prefix))
        .cloned()
        .collect()
}

#[tokio::test]
async fn lanes_of_different_keys_run_concurrently_each_in_queue_order() {
    let setup = setup().await;
    for body in ["a1", "a2", "a3"] {
        setup.publish("key.a", body).await;
    }
    setup.publish("key.b", "b1").await;
    let log: Log = Arc::default();
    let b_done = Arc::new(Notify::new());
    let shutdown = CancellationToken::new();
    let task = {
        let (log, b_done, shutdown) = (log.clone(), b_done.clone(), shutdown.clone());
        let (link, consumer) = (setup.link.clone(), setup.consumer.clone());
        tokio::spawn(async move {
            shop_amqp::consume_ordered(link, &consumer, shutdown, |delivery| {
                let (log, b_done) = (log.clone(), b_done.clone());
                async move {
                    let body = String::from_utf8(delivery.data.clone()).unwrap();
                    // a1 can only finish once b1, queued behind it, was handled: the key.b
                    // lane must not wait for the key.a lane.
                    if body == "a1" {
                        b_done.notified().await;
                    }
                    if body == "b1" {
                        b_done.notify_one();
                    }
                    log.lock().unwrap().push((body, delivery.redelivered));
                    delivery.ack(BasicAckOptions::default()).await.unwrap();
                    Settlement::Settled
                }
            })
            .await;
        })
    };
    wait_until("all four handled", Duration::from_secs(20), || async {
        (log.lock().unwrap().len() == 4).then_some(())
    })
    .await;
    assert_eq!(
        log.lock().unwrap()[0].0,
        "b1",
        "key.b overtook the blocked key.a lane"
    );
    let a: Vec<_> = handled(&log, "a")
        .into_iter()
        .map(|(body, _)| body)
        .collect();
    assert_eq!(a, ["a1", "a2", "a3"]);
    shutdown.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn an_unsettled_delivery_comes_back_before_the_ones_behind_it() {
    let setup = setup().await;
    for body in ["a1", "a2", "a3"] {
        setup.publish("key.a", body).await;
    }
    let log: Log = Arc::default();
    let shutdown = CancellationToken::new();
    let task = {
        let (log, shutdown) = (log.clone(), shutdown.clone());
        let (link, consumer) = (setup.link.clone(), setup.consumer.clone());
        tokio::spawn(async move {
            shop_amqp::consume_ordered(link, &consumer, shutdown, |delivery| {
                let log = log.clone();
                async move {
                    let body = String::from_utf8(delivery.data.clone()).unwrap();
                    log.lock()
                        .unwrap()
                        .push((body.clone(), delivery.redelivered));
                    if body == "a1" && !delivery.redelivered {
                        return Settlement::Unsettled;
                    }
                    delivery.ack(BasicAckOptions::default()).await.unwrap();
                    Settlement::Settled
                }
            })
            .await;
        })
    };
    wait_until("a3 handled", Duration::from_secs(20), || async {
        log.lock()
            .unwrap()
            .iter()
            .any(|(body, _)| body == "a3")
            .then_some(())
    })
    .await;
    let a = handled(&log, "a");
    let bodies: Vec<&str> = a.iter().map(|(body, _)| body.as_str()).collect();
    // a2 and a3 were prefetched behind a1 but wait for its redelivery; they may be
    // redelivered themselves, never handled before a1 settled.
    assert_eq!(bodies[..2], ["a1", "a1"], "{a:?}");
    assert!(a[1].1, "the second a1 is a redelivery: {a:?}");
    assert_eq!(bodies[2..], ["a2", "a3"], "{a:?}");
    shutdown.cancel();
    task.await.unwrap();
}

/// The lane of a test delivery: the first letter of its body (as the bridge uses the order).
fn lane_by_body(delivery: &lapin::message::Delivery) -> String {
    String::from_utf8_lossy(&delivery.data[..1]).into_owned()
}

#[tokio::test]
async fn a_lane_of_the_callers_keeps_order_across_routing_keys() {
    let mut setup = setup().await;
    setup.consumer.lane = Some(lane_by_body);
    // x1 and x2 are one lane under two routing keys; y1 is another lane under x1's key.
    setup.publish("key.a", "x1").await;
    setup.publish("key.b", "x2").await;
    setup.publish("key.a", "y1").await;
    let log: Log = Arc::default();
    let y_done = Arc::new(Notify::new());
    let shutdown = CancellationToken::new();
    let task = {
        let (log, y_done, shutdown) = (log.clone(), y_done.clone(), shutdown.clone());
        let (link, consumer) = (setup.link.clone(), setup.consumer.clone());
        tokio::spawn(async move {
            shop_amqp::consume_ordered(link, &consumer, shutdown, |delivery| {
                let (log, y_done) = (log.clone(), y_done.clone());
                async move {
                    let body = String::from_utf8(delivery.data.clone()).unwrap();
                    // x1 finishes only once y1, behind it under the same routing key, was
                    // handled: lanes are the caller's, not the routing keys.
                    if body == "x1" {
                        y_done.notified().await;
                    }
                    log.lock()
                        .unwrap()
                        .push((body.clone(), delivery.redelivered));
                    if body == "y1" {
                        y_done.notify_one();
                    }
                    delivery.ack(BasicAckOptions::default()).await.unwrap();
                    Settlement::Settled
                }
            })
            .await;
        })
    };
    wait_until("all three handled", Duration::from_secs(20), || async {
        (log.lock().unwrap().len() == 3).then_some(())
    })
    .await;
    let bodies: Vec<String> = log
        .lock()
        .unwrap()
        .iter()
        .map(|(body, _)| body.clone())
        .collect();
    assert_eq!(
        bodies,
        ["y1", "x1", "x2"],
        "x2 must wait for x1 under another key"
    );
    shutdown.cancel();
    task.await.unwrap();
}
