//! The benchmark of docs/benchmarks.md (a measurement, not a test: `#[ignore]`d, no timed
//! assert). Run with:
//!
//! ```sh
//! cargo test --release -p event-bridge --test bridge -- --ignored --nocapture benchmark
//! ```
//!
//! 1. Throughput: 10,000 events wait in the bridge's queue; a bridge starts and drains them
//!    into a file-backed stream. Time from start to the 10,000th stored message.
//! 2. Latency: 10,000 events published at a steady rate (`BENCH_RATE`, default 1,000/s, the
//!    Order Service's target) while the bridge runs; for each, from `occurred_at` (set just
//!    before publishing) to the time JetStream stored it.

use std::time::{Duration, Instant};

use lapin::BasicProperties;
use lapin::options::BasicPublishOptions;
use lapin::types::ShortString;

use crate::harness::{Names, Publisher, SHARED_NATS, TestBridge, broker, stream_count};

const EVENTS: u64 = 10_000;

fn rate_per_second() -> u64 {
    std::env::var("BENCH_RATE")
        .ok()
        .and_then(|rate| rate.parse().ok())
        .unwrap_or(1_000)
}

/// Publishes `count` events with confirms awaited in batches, optionally paced to `rate`.
async fn publish(publisher: &Publisher, first: u64, count: u64, rate: Option<u64>) {
    let channel = publisher.link.channel().await.unwrap();
    let started = Instant::now();
    let mut confirms = Vec::new();
    for n in 0..count {
        if let Some(rate) = rate {
            let due = started + Duration::from_secs_f64(n as f64 / rate as f64);
            tokio::time::sleep_until(due.into()).await;
        }
        let key = if n % 2 == 0 {
            "order.created"
        } else {
            "order.status_changed"
        };
        let (id, body) = Publisher::event(first + n, key);
        let properties = BasicProperties::default()
            .with_content_type(ShortString::from("application/json"))
            .with_delivery_mode(2)
            .with_message_id(ShortString::from(id));
        confirms.push(
            channel
                .basic_publish(
                    ShortString::from(publisher.exchange.as_str()),
                    ShortString::from(key),
                    BasicPublishOptions::default(),
                    &serde_json::to_vec(&body).unwrap(),
                    properties,
                )
                .await
                .unwrap(),
        );
        if confirms.len() == 500 {
            for confirm in confirms.drain(..) {
                confirm.await.unwrap();
            }
        }
    }
    for confirm in confirms {
        confirm.await.unwrap();
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run explicitly (see the module docs)"]
async fn benchmark() {
    let names = Names::unique();
    let file = [("BRIDGE_STREAM_STORAGE", "file")];
    // Declare the queue, then stop: the backlog builds up with no consumer.
    let bridge = TestBridge::start_with(names.clone(), broker(), SHARED_NATS, &file).await;
    let _stopped = bridge.stop().await;
    let publisher = Publisher::new(&names.exchange).await;
    publish(&publisher, 1, EVENTS, None).await;
    assert_eq!(u64::from(publisher.ready_in(&names.queue).await), EVENTS);

    let started = Instant::now();
    let bridge = TestBridge::start_with(names.clone(), broker(), SHARED_NATS, &file).await;
    let js = bridge.jetstream().await;
    test_support::wait_until("the backlog mirrored", Duration::from_secs(300), || async {
        (stream_count(&js, &names.stream).await >= EVENTS).then_some(())
    })
    .await;
    test_support::print_throughput(
        "throughput, queued events mirrored",
        EVENTS,
        started.elapsed(),
    );

    let rate = rate_per_second();
    publish(&publisher, EVENTS + 1, EVENTS, Some(rate)).await;
    test_support::wait_until(
        "the paced events mirrored",
        Duration::from_secs(300),
        || async { (stream_count(&js, &names.stream).await >= 2 * EVENTS).then_some(()) },
    )
    .await;
    let stream = js.get_stream(&names.stream).await.unwrap();
    let mut paced = Vec::new();
    for sequence in EVENTS + 1..=2 * EVENTS {
        paced.push(stream.get_raw_message(sequence).await.unwrap());
    }
    let mut latencies: Vec<f64> = paced
        .iter()
        .map(|message| {
            let body: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
            let occurred =
                chrono::DateTime::parse_from_rfc3339(body["occurred_at"].as_str().unwrap())
                    .unwrap()
                    .timestamp_nanos_opt()
                    .unwrap();
            let stored = message.time.unix_timestamp_nanos() as i64;
            (stored - occurred) as f64 / 1e6
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    println!(
        "latency at {rate}/s over {} events (occurred_at → stored), ms: p50 {:.2}, p90 {:.2}, p99 {:.2}, max {:.2}",
        latencies.len(),
        percentile(&latencies, 50.0),
        percentile(&latencies, 90.0),
        percentile(&latencies, 99.0),
        latencies.last().unwrap()
    );
    println!(
        "{}",
        bridge
            .metrics()
            .await
            .lines()
            .filter(|l| l.starts_with("bridge_"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}
