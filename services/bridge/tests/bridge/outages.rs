//! Broker outages: a private nats-server killed and restarted, RabbitMQ cut through a proxy,
//! NATS absent at start. Nothing may be lost, nothing stored twice, order per key kept.

use std::time::Duration;

use test_infra::proxy::TcpProxy;

use crate::harness::{
    Names, Publisher, TestBridge, assert_exactly_once_in_order, broker, read_stream,
    wait_for_stream,
};
use test_infra::nats_server::PrivateNats;

const DEADLINE: Duration = Duration::from_secs(60);
const REDELIVERED: &str = "bridge_events_redelivered_total";

/// Until the bridge holds nothing and its queue is empty: every event reached a final state.
async fn wait_until_settled(bridge: &TestBridge, publisher: &Publisher) {
    test_support::wait_until("the bridge to settle", DEADLINE, || async {
        let idle = bridge.served_metric("bridge_events_in_flight").await == 0.0;
        (idle && publisher.ready_in(&bridge.names.queue).await == 0).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_nats_outage_loses_nothing_and_stores_no_duplicate() {
    let mut nats = PrivateNats::start().await;
    let names = Names::unique();
    let bridge = TestBridge::start_with(
        names.clone(),
        broker(),
        &nats.url(),
        &[("BRIDGE_STREAM_STORAGE", "file")],
    )
    .await;
    let publisher = Publisher::new(&names.exchange).await;
    let mut published = publisher.publish_events(1, 40).await;
    let js = bridge.jetstream().await;
    wait_for_stream(&js, &names.stream, 40, DEADLINE).await;

    // Events in flight when NATS dies, and more while it is away.
    published.extend(publisher.publish_events(41, 40).await);
    nats.kill().await;
    published.extend(publisher.publish_events(81, 40).await);
    test_support::wait_until("health to show NATS down", DEADLINE, || async {
        let (status, body) = bridge.health().await;
        (status == 503 && body["dependencies"]["nats"]["status"] == "down").then_some(())
    })
    .await;
    test_support::wait_until("publishes to fail while NATS is down", DEADLINE, || async {
        // The reasons' series exist from the start, at zero: count the failures.
        let failures: f64 = bridge
            .metrics()
            .await
            .lines()
            .filter(|line| line.starts_with("bridge_publish_failures_total{"))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        (failures > 0.0).then_some(())
    })
    .await;
    assert!(
        publisher.ready_in(&names.queue).await > 0
            || bridge.served_metric("bridge_events_in_flight").await > 0.0,
        "the events wait in RabbitMQ or in the bridge's hands"
    );

    nats.restart().await;
    published.extend(publisher.publish_events(121, 40).await);
    bridge.wait_healthy().await;
    let js = bridge.jetstream().await;
    wait_for_stream(&js, &names.stream, 160, DEADLINE).await;
    wait_until_settled(&bridge, &publisher).await;
    let messages = read_stream(&js, &names.stream).await;
    assert_exactly_once_in_order(&messages, &names.prefix, &published);
}

/// RabbitMQ cut while the bridge holds deliveries: they go back to the queue unacked and come
/// again flagged redelivered; the dedup path (message id at JetStream) keeps the stream at
/// one copy each. NATS is held away through a proxy first, so that deliveries are certainly in
/// the bridge's hands at the cut instead of by luck of timing. Two worker threads: the handle's
/// clean-up blocks one while it deletes the stream through the proxy the other one runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rabbitmq_connection_cut_loses_nothing_and_stores_no_duplicate() {
    let proxy = TcpProxy::start("127.0.0.1:5672".parse().unwrap()).await;
    let nats_proxy = TcpProxy::start("127.0.0.1:4222".parse().unwrap()).await;
    let names = Names::unique();
    let bridge = TestBridge::start_with(
        names.clone(),
        &proxy.rewrite_url(broker()),
        &nats_proxy.rewrite_url(crate::harness::SHARED_NATS),
        &[],
    )
    .await;
    let publisher = Publisher::new(&names.exchange).await;
    let mut published = publisher.publish_events(1, 40).await;
    let js = bridge.jetstream().await;
    wait_for_stream(&js, &names.stream, 40, DEADLINE).await;
    // Every one of them acked too, so that the queue counts below hold only what comes next.
    wait_until_settled(&bridge, &publisher).await;
    assert_eq!(bridge.served_metric(REDELIVERED).await, 0.0);

    // Deliveries the bridge received and cannot store yet: a known state for the cut.
    nats_proxy.cut();
    published.extend(publisher.publish_events(41, 40).await);
    test_support::wait_until("deliveries in the bridge's hands", DEADLINE, || async {
        (bridge.served_metric("bridge_events_in_flight").await > 0.0).then_some(())
    })
    .await;
    proxy.cut();
    published.extend(publisher.publish_events(81, 40).await);
    test_support::wait_until("health to show RabbitMQ down", DEADLINE, || async {
        let (_, body) = bridge.health().await;
        (body["dependencies"]["rabbitmq"]["status"] == "down").then_some(())
    })
    .await;
    // Nothing the bridge held at the cut was acked unstored or dropped: RabbitMQ takes every
    // delivery of the dead connection back, so all 80 events since NATS was cut wait there.
    test_support::wait_until(
        "the 80 events since NATS was cut to wait in RabbitMQ",
        DEADLINE,
        || async { (publisher.ready_in(&names.queue).await == 80).then_some(()) },
    )
    .await;
    nats_proxy.restore();
    let js = bridge.jetstream().await;

    proxy.restore();
    wait_for_stream(&js, &names.stream, 120, DEADLINE).await;
    wait_until_settled(&bridge, &publisher).await;
    let messages = read_stream(&js, &names.stream).await;
    assert_exactly_once_in_order(&messages, &names.prefix, &published);
    // The deliveries held at the cut came again: the redelivery path ran, and stored nothing
    // twice (checked above).
    assert!(
        bridge.served_metric(REDELIVERED).await > 0.0,
        "the cut left deliveries to redeliver"
    );
}

#[tokio::test]
async fn the_bridge_starts_without_nats_and_mirrors_once_it_appears() {
    let mut nats = PrivateNats::start().await;
    nats.kill().await;
    let names = Names::unique();
    // Not healthy until NATS is there: start it without waiting for health.
    let bridge = TestBridge::start_unready(names.clone(), broker(), &nats.url(), &[]).await;
    // Events published before the bridge's binding exists would be routed nowhere. Its
    // RabbitMQ check is up only once the channel has the whole topology (exchange, queues and
    // bindings); the queue merely existing, what this test once waited for, is not enough: under
    // load the events went out between the queue's declaration and its binding and were lost.
    test_support::wait_until("the bridge's RabbitMQ topology", DEADLINE, || async {
        let (_, body) = bridge.health().await;
        (body["dependencies"]["rabbitmq"]["status"] == "up").then_some(())
    })
    .await;
    let publisher = Publisher::new(&names.exchange).await;
    let published = publisher.publish_events(1, 10).await;

    nats.restart().await;
    test_support::wait_until("the bridge to be healthy", DEADLINE, || async {
        (bridge.health().await.0 == 200).then_some(())
    })
    .await;
    let js = bridge.jetstream().await;
    let messages = wait_for_stream(&js, &names.stream, 10, DEADLINE).await;
    assert_exactly_once_in_order(&messages, &names.prefix, &published);
}
