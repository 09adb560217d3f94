//! The bridge's HTTP surface and its shutdown.

use std::time::Duration;

use test_infra::nats_server::PrivateNats;

use crate::harness::{
    Names, Publisher, TestBridge, assert_exactly_once_in_order, broker, read_stream, stream_count,
};

#[tokio::test]
async fn health_metrics_and_docs_are_served() {
    let bridge = TestBridge::start_unique().await;
    let (status, health) = bridge.health().await;
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["service"], "event-bridge");
    for dependency in ["rabbitmq", "nats", "jetstream"] {
        assert_eq!(
            health["dependencies"][dependency]["status"], "up",
            "{health}"
        );
    }

    let publisher = Publisher::new(&bridge.names.exchange).await;
    publisher.publish_events(1, 2).await;
    let js = bridge.jetstream().await;
    test_support::wait_until("two events mirrored", test_support::HANG_GUARD, || async {
        (stream_count(&js, &bridge.names.stream).await == 2).then_some(())
    })
    .await;
    // Stored is not yet settled: the bridge acks and counts a delivery after its PubAck, which
    // can come after the stream already shows the message (a CI run read one still in flight).
    let metrics = test_support::wait_until(
        "both deliveries settled",
        test_support::HANG_GUARD,
        || async {
            let metrics = bridge.metrics().await;
            (metrics.contains("bridge_mirror_duration_seconds_count 2")
                && metrics.contains("bridge_events_in_flight 0"))
            .then_some(metrics)
        },
    )
    .await;
    for sample in [
        r#"bridge_events_mirrored_total{routing_key="order.created"} 1"#,
        r#"bridge_events_mirrored_total{routing_key="order.status_changed"} 1"#,
        "bridge_events_in_flight 0",
        "bridge_end_to_end_latency_seconds_count 2",
        "bridge_mirror_duration_seconds_count 2",
        "bridge_events_redelivered_total 0",
    ] {
        assert!(
            metrics.contains(sample),
            "{sample} missing from:\n{metrics}"
        );
    }

    let openapi = bridge.get("/openapi.json").await;
    assert_eq!(openapi.status(), 200);
    let document: serde_json::Value = openapi.json().await.unwrap();
    assert!(document["paths"]["/stream"].is_object(), "{document}");
    let report: serde_json::Value = bridge.get_json("/stream").await;
    assert_eq!(report["stream"], bridge.names.stream.as_str(), "{report}");
    assert_eq!(report["messages"], 2, "{report}");
    assert_eq!(report["subjects"][0], format!("{}.>", bridge.names.prefix));
    assert_eq!(report["source"]["binding_keys"][0], "#");
    let docs = bridge.get("/docs/").await;
    assert_eq!(docs.status(), 200);
}

#[tokio::test]
async fn shutdown_finishes_the_deliveries_in_hand_and_leaves_the_rest_queued() {
    let bridge = TestBridge::start_unique().await;
    let publisher = Publisher::new(&bridge.names.exchange).await;
    let published = publisher.publish_events(1, 200).await;
    let bridge = bridge.stop().await;

    // Everything is either in the stream (and acked) or back in the queue; nothing in between.
    // (RabbitMQ requeues the unacked ones when the connection closes, a moment later.)
    let js = bridge.jetstream().await;
    test_support::wait_until(
        "every event stored or queued",
        Duration::from_secs(10),
        || async {
            let stored = stream_count(&js, &bridge.names.stream).await;
            let queued = publisher.ready_in(&bridge.names.queue).await;
            (stored + u64::from(queued) == 200).then_some(())
        },
    )
    .await;

    // A new bridge on the same queue and stream finishes the job, without a second copy.
    let bridge = TestBridge::start_with(
        bridge.names.clone(),
        crate::harness::broker(),
        crate::harness::SHARED_NATS,
        &[],
    )
    .await;
    test_support::wait_until("the rest mirrored", Duration::from_secs(20), || async {
        (stream_count(&js, &bridge.names.stream).await == 200).then_some(())
    })
    .await;
    let messages = read_stream(&js, &bridge.names.stream).await;
    assert_exactly_once_in_order(&messages, &bridge.names.prefix, &published);
}

/// NATS with a password, as compose and Nomad run it: the credentials in `NATS_URL` (user and
/// percent-encoded password) reach the server, so the bridge connects and reports NATS up.
#[tokio::test]
async fn the_bridge_authenticates_with_the_credentials_in_its_nats_url() {
    let nats = PrivateNats::start_with_password("bridge", "pa:ss@word").await;
    let url = format!("nats://bridge:pa%3Ass%40word@127.0.0.1:{}", nats.port);
    // `start_with` waits until /health says every broker is up.
    let bridge = TestBridge::start_with(Names::unique(), broker(), &url, &[]).await;
    let (_, health) = bridge.health().await;
    assert_eq!(health["dependencies"]["nats"]["status"], "up", "{health}");
    assert_eq!(
        health["dependencies"]["jetstream"]["status"], "up",
        "{health}"
    );
}

/// The binary, not the library: a bad setting stops it before it serves, naming the key.
#[tokio::test]
async fn the_binary_refuses_a_bad_setting_naming_it() {
    let binary = env!("CARGO_BIN_EXE_event-bridge");
    test_infra::startup::assert_refuses_setting(binary, "PORT", "eighty").await;
    test_infra::startup::assert_refuses_setting(binary, "BRIDGE_MAX_IN_FLIGHT", "0").await;
}
