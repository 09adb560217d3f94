//! A measurement, not a check run by default: how fast one replica drains a backlog.
//! `cargo test -p notification-service --test api throughput -- --ignored --nocapture`

use std::time::{Duration, Instant};

use test_infra::webhook_sink::WebhookSink;
use test_support::broker::{TestBroker, order_created};
use test_support::notification::{NotificationServiceHandle, NotificationTopology};
use test_support::wait_until;

use crate::{DELIVERED, webhook_channel};

const EVENTS: i64 = 2_000;

async fn drain_backlog(label: &str, settings: &[(&'static str, &str)]) {
    let topology = NotificationTopology::unique();
    // Declares the queue, then leaves the backlog to the next replica.
    NotificationServiceHandle::start(&topology, settings)
        .await
        .stop()
        .await;
    let broker = TestBroker::connect().await;
    for order_id in 0..EVENTS {
        broker
            .publish_event(&topology.exchange, &order_created(order_id), None)
            .await;
    }
    let started = Instant::now();
    let service = NotificationServiceHandle::start(&topology, settings).await;
    wait_until("the backlog drained", Duration::from_secs(120), || async {
        (service.metric(DELIVERED) >= EVENTS as f64).then_some(())
    })
    .await;
    test_support::print_throughput(label, EVENTS as u64, started.elapsed());
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; run on demand"]
async fn throughput_of_one_replica_draining_a_backlog() {
    drain_backlog("log channel, prefetch 16", &[]).await;
    let sink = WebhookSink::start().await;
    drain_backlog("webhook channel, prefetch 16", &webhook_channel(&sink)).await;
    assert_eq!(sink.received().len() as i64, EVENTS);
}
