//! The broker going away, competing replicas, and shutdown with a delivery in hand.

use std::collections::HashMap;
use std::process::Stdio;

use serde_json::Value;
use test_infra::proxy::TcpProxy;
use test_infra::redis_server::PrivateRedis;
use test_infra::webhook_sink::WebhookSink;
use test_support::REDIS_URL;
use test_support::broker::{BROKER_ADDRESS, TestBroker, order_created, service_url};
use test_support::notification::{NotificationServiceHandle, NotificationTopology};
use test_support::wait_until;

use crate::{DELIVERED, DUPLICATE, WAIT, WEBHOOK_SECRET, wait_for_metric, webhook_channel};

async fn rabbitmq_status(service: &NotificationServiceHandle) -> (u16, String) {
    let response = service.get("/health").await;
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("health JSON");
    let rabbitmq = body["dependencies"]["rabbitmq"]["status"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    (status, rabbitmq)
}

#[tokio::test]
async fn consumption_resumes_by_itself_after_the_broker_connection_drops() {
    let proxy = TcpProxy::start(BROKER_ADDRESS.parse().unwrap()).await;
    let proxied_url = proxy.rewrite_url(service_url());
    let topology = NotificationTopology::unique();
    let service = NotificationServiceHandle::start(&topology, &[("AMQP_URL", &proxied_url)]).await;
    let broker = TestBroker::connect().await;

    broker
        .publish_event(&topology.exchange, &order_created(60), None)
        .await;
    wait_for_metric(&service, DELIVERED, 1.0).await;
    assert_eq!(rabbitmq_status(&service).await, (200, "up".into()));

    proxy.cut();
    wait_until("health to report rabbitmq down", WAIT, || async {
        (rabbitmq_status(&service).await == (503, "down".into())).then_some(())
    })
    .await;
    // Published while the service is cut off: the durable queue keeps it.
    broker
        .publish_event(&topology.exchange, &order_created(61), None)
        .await;
    proxy.restore();

    wait_for_metric(&service, DELIVERED, 2.0).await;
    // Health is the background probe's last round: it catches up within about a second.
    wait_until("health to report rabbitmq up again", WAIT, || async {
        (rabbitmq_status(&service).await == (200, "up".into())).then_some(())
    })
    .await;
    service.stop().await;
}

#[tokio::test]
async fn queue_and_bindings_are_declared_again_when_the_broker_lost_them() {
    let proxy = TcpProxy::start(BROKER_ADDRESS.parse().unwrap()).await;
    let proxied_url = proxy.rewrite_url(service_url());
    let topology = NotificationTopology::unique();
    let service = NotificationServiceHandle::start(&topology, &[("AMQP_URL", &proxied_url)]).await;
    let broker = TestBroker::connect().await;

    proxy.cut();
    wait_until("health to report rabbitmq down", WAIT, || async {
        (rabbitmq_status(&service).await.1 == "down").then_some(())
    })
    .await;
    // A broker restarted without its data: the queue, its binding and (auto-deleted with its
    // last binding in tests) the exchange are gone.
    broker.delete_queue(&topology.queue).await;
    assert_eq!(broker.queue_counts(&topology.queue).await, None);
    proxy.restore();

    wait_until(
        "the queue to be declared and consumed again",
        WAIT,
        || async { (broker.queue_counts(&topology.queue).await?.1 == 1).then_some(()) },
    )
    .await;
    broker
        .publish_event(&topology.exchange, &order_created(62), None)
        .await;
    wait_for_metric(&service, DELIVERED, 1.0).await;
    service.stop().await;
}

#[tokio::test]
async fn two_replicas_share_the_queue_and_handle_each_event_once() {
    let sink = WebhookSink::start().await;
    let topology = NotificationTopology::unique();
    let mut settings = webhook_channel(&sink).to_vec();
    settings.push(("NOTIFY_PREFETCH", "1"));
    let first = NotificationServiceHandle::start(&topology, &settings).await;
    let second = NotificationServiceHandle::start(&topology, &settings).await;
    let broker = TestBroker::connect().await;
    wait_until("both replicas to subscribe", WAIT, || async {
        (broker.queue_counts(&topology.queue).await?.1 == 2).then_some(())
    })
    .await;

    let events = 40;
    for order_id in 0..events {
        broker
            .publish_event(&topology.exchange, &order_created(order_id), None)
            .await;
    }
    wait_until("every event handled", WAIT, || async {
        (first.metric(DELIVERED) + second.metric(DELIVERED) >= events as f64).then_some(())
    })
    .await;

    let mut calls_per_event: HashMap<String, usize> = HashMap::new();
    for hook in sink.received() {
        let event_id = hook.json()["event_id"].as_str().unwrap().to_owned();
        *calls_per_event.entry(event_id).or_default() += 1;
    }
    assert_eq!(calls_per_event.len(), events as usize);
    assert!(
        calls_per_event.values().all(|&calls| calls == 1),
        "{calls_per_event:?}"
    );
    assert_eq!(
        first.metric(DELIVERED) + second.metric(DELIVERED),
        events as f64
    );
    assert!(
        first.metric(DELIVERED) > 0.0,
        "the first replica took a share"
    );
    assert!(
        second.metric(DELIVERED) > 0.0,
        "the second replica took a share"
    );
    first.stop().await;
    second.stop().await;
}

/// The real binary, so the signal handling is the one production runs.
#[tokio::test]
async fn sigterm_finishes_the_delivery_in_hand_and_leaves_the_rest_queued() {
    let sink = WebhookSink::start().await;
    sink.hold();
    let topology = NotificationTopology::unique();
    let mut service = tokio::process::Command::new(env!("CARGO_BIN_EXE_notification-service"))
        .envs(notification_env(&topology))
        .envs([
            ("NOTIFY_CHANNELS", "webhook"),
            ("NOTIFY_WEBHOOK_URL", sink.url.as_str()),
            ("NOTIFY_WEBHOOK_SECRET", WEBHOOK_SECRET),
            ("NOTIFY_PREFETCH", "1"),
        ])
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the service binary starts");
    let broker = TestBroker::connect().await;
    wait_until("the service to subscribe", WAIT, || async {
        (broker.queue_counts(&topology.queue).await?.1 == 1).then_some(())
    })
    .await;

    broker
        .publish_event(&topology.exchange, &order_created(70), None)
        .await;
    broker
        .publish_event(&topology.exchange, &order_created(71), None)
        .await;
    wait_until("a notification in hand", WAIT, || async {
        (!sink.received().is_empty()).then_some(())
    })
    .await;

    test_support::send_signal(service.id().expect("the service runs"), "TERM").await;
    wait_until("the subscription to be cancelled", WAIT, || async {
        (broker.queue_counts(&topology.queue).await?.1 == 0).then_some(())
    })
    .await;
    sink.release();
    let status = test_support::within_hang_guard("the service to exit", service.wait())
        .await
        .expect("exit status");
    assert!(status.success(), "{status}");

    assert_eq!(
        sink.received().len(),
        1,
        "nothing new was taken after SIGTERM"
    );
    // Anything unacknowledged went back to the queue when the connection closed: one message
    // ready means the one in hand was acked and the other one waits for the next consumer.
    assert_eq!(broker.queue_counts(&topology.queue).await, Some((1, 0)));
}

/// A replica killed with SIGKILL while a webhook is in flight leaves its lease in the shared
/// record. The broker redelivers the event to the survivor, which must wait for that lease to
/// expire and then send, not use up its attempts against the lease and dead-letter the event.
#[tokio::test]
async fn a_replica_killed_mid_send_leaves_the_event_to_the_survivor() {
    let sink = WebhookSink::start().await;
    sink.hold();
    let topology = NotificationTopology::unique();
    let prefix = format!("test-notify-{}:", uuid::Uuid::new_v4().simple());
    // Three attempts 100 ms and 200 ms apart are spent long before the 2 s lease expires.
    let shared_dedup = [
        ("NOTIFY_CHANNELS", "webhook"),
        ("NOTIFY_WEBHOOK_URL", sink.url.as_str()),
        ("NOTIFY_WEBHOOK_SECRET", WEBHOOK_SECRET),
        ("NOTIFY_PREFETCH", "1"),
        ("NOTIFY_DEDUP_STORE", "redis"),
        ("REDIS_URL", REDIS_URL),
        ("NOTIFY_DEDUP_KEY_PREFIX", prefix.as_str()),
        ("NOTIFY_DEDUP_LEASE_MS", "2000"),
        ("NOTIFY_MAX_ATTEMPTS", "3"),
        ("NOTIFY_RETRY_DELAY_MS", "100"),
        ("NOTIFY_RETRY_MAX_DELAY_MS", "200"),
    ];
    let mut doomed = tokio::process::Command::new(env!("CARGO_BIN_EXE_notification-service"))
        .envs(notification_env(&topology))
        .envs(shared_dedup)
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the service binary starts");
    let broker = TestBroker::connect().await;
    wait_until("the doomed replica to subscribe", WAIT, || async {
        (broker.queue_counts(&topology.queue).await?.1 == 1).then_some(())
    })
    .await;
    broker
        .publish_event(&topology.exchange, &order_created(90), None)
        .await;
    wait_until("the webhook in flight", WAIT, || async {
        (!sink.received().is_empty()).then_some(())
    })
    .await;

    doomed.start_kill().expect("SIGKILL is sent");
    tokio::time::timeout(WAIT, doomed.wait())
        .await
        .expect("the killed replica exits")
        .expect("exit status");
    sink.release();
    let survivor = NotificationServiceHandle::start(&topology, &shared_dedup).await;

    let event_id = sink.received()[0].json()["event_id"]
        .as_str()
        .expect("event_id")
        .to_owned();
    // The sink records a call on arrival, the survivor counts it once acknowledged: wait for
    // the count, then look at the calls.
    wait_for_metric(&survivor, DELIVERED, 1.0).await;
    let calls = sink
        .received()
        .iter()
        .filter(|hook| hook.json()["event_id"] == event_id.as_str())
        .count();
    assert_eq!(calls, 2, "the doomed replica's call and the survivor's");
    assert_eq!(
        broker.queue_counts(&topology.dead_letters()).await,
        Some((0, 0)),
        "nothing was dead-lettered"
    );
    survivor.stop().await;
}

/// With the shared record's Redis gone, a replica goes on notifying with its own memory alone
/// (the behaviour of a single replica): an event sent during the outage is sent once, and a
/// redelivered copy of it is still dropped.
#[tokio::test]
async fn with_the_shared_records_redis_down_events_are_still_notified_once() {
    let mut redis = PrivateRedis::start().await;
    let redis_url = redis.url();
    let sink = WebhookSink::start().await;
    let topology = NotificationTopology::unique();
    let mut settings = webhook_channel(&sink).to_vec();
    settings.extend([
        ("NOTIFY_DEDUP_STORE", "redis"),
        ("REDIS_URL", redis_url.as_str()),
    ]);
    let service = NotificationServiceHandle::start(&topology, &settings).await;
    let broker = TestBroker::connect().await;
    broker
        .publish_event(&topology.exchange, &order_created(301), None)
        .await;
    wait_for_metric(&service, DELIVERED, 1.0).await;

    redis.kill().await;
    let during = order_created(302);
    broker
        .publish_event(&topology.exchange, &during, None)
        .await;
    wait_for_metric(&service, DELIVERED, 2.0).await;
    broker
        .publish_event(&topology.exchange, &during, None)
        .await;
    wait_for_metric(&service, DUPLICATE, 1.0).await;

    let event_id = during["event_id"].as_str().expect("event_id");
    let calls = sink
        .received()
        .iter()
        .filter(|hook| hook.json()["event_id"] == event_id)
        .count();
    assert_eq!(calls, 1, "sent once during the outage, its copy dropped");
    assert_eq!(service.metric(DELIVERED), 2.0);
    assert_eq!(
        broker.queue_counts(&topology.dead_letters()).await,
        Some((0, 0)),
        "nothing was dead-lettered"
    );
    service.stop().await;
}

/// The environment `notification_settings` gives an in-process service, for the binary.
fn notification_env(topology: &NotificationTopology) -> Vec<(String, String)> {
    let mut env = vec![
        ("APP_PROFILE".to_owned(), "production".to_owned()),
        ("LOG_LEVEL".to_owned(), "warn".to_owned()),
    ];
    env.extend(
        [
            ("HOST", "127.0.0.1"),
            ("PORT", "0"),
            ("AMQP_URL", service_url()),
            ("NOTIFY_QUEUE_EXPIRES_MS", "300000"),
            ("NOTIFY_EXCHANGE", &topology.exchange),
            ("NOTIFY_QUEUE", &topology.queue),
        ]
        .map(|(key, value)| (key.to_owned(), value.to_owned())),
    );
    env
}
