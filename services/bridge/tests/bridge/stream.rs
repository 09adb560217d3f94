//! The stream's limits against the machine's NATS: the bridge's stream carries its age, size and
//! count limits, and a stream that exists without them is updated in place, its events kept.
//! Each test works on a stream of its own, deleted when the test ends, pass or fail.

use std::time::Duration;

use async_nats::jetstream::{self, stream::Config as StreamConfig};
use event_bridge::config::BridgeSettings;
use shop_config::Settings;
use shop_nats::{self, StreamEnsured};
use test_support::bridge::{Names, SHARED_NATS};

/// Deletes the stream when dropped, from a thread with a runtime of its own (the test's runtime
/// may be gone or be the one that is panicking).
struct StreamCleanup(String);

impl Drop for StreamCleanup {
    fn drop(&mut self) {
        let name = self.0.clone();
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let context = jetstream().await;
                let _ = tokio::time::timeout(Duration::from_secs(5), context.delete_stream(&name))
                    .await;
            });
        })
        .join();
    }
}

async fn jetstream() -> jetstream::Context {
    jetstream::new(async_nats::connect(SHARED_NATS).await.unwrap())
}

/// The bridge's stream settings, with `pairs` over the defaults, on a stream of the test's own.
fn wanted(pairs: &[(&'static str, &str)]) -> (StreamConfig, StreamCleanup) {
    let names = Names::unique();
    let pairs = [
        ("BRIDGE_STREAM", names.stream.clone()),
        ("BRIDGE_SUBJECT_PREFIX", names.prefix.clone()),
    ]
    .into_iter()
    .chain(pairs.iter().map(|(key, value)| (*key, (*value).to_owned())));
    let settings: BridgeSettings = Settings::from_pairs(pairs).extract().unwrap();
    let cleanup = StreamCleanup(names.stream);
    (settings.stream_config(), cleanup)
}

#[tokio::test]
async fn the_stream_is_created_with_its_limits() {
    let (config, _cleanup) = wanted(&[("BRIDGE_STREAM_MAX_MSGS", "100000")]);
    let context = jetstream().await;

    assert_eq!(
        shop_nats::ensure_stream(&context, &config).await.unwrap(),
        StreamEnsured::Created
    );
    let mut stream = context.get_stream(&config.name).await.unwrap();
    let stored = stream.info().await.unwrap().config.clone();
    assert_eq!(stored.max_age, Duration::from_secs(7 * 24 * 3600));
    assert_eq!(stored.max_bytes, 1 << 30);
    assert_eq!(stored.max_messages, 100_000);
    // Asked again with the same settings, nothing changes.
    assert_eq!(
        shop_nats::ensure_stream(&context, &config).await.unwrap(),
        StreamEnsured::Unchanged
    );
}

#[tokio::test]
async fn a_stream_without_limits_gets_them_and_keeps_its_events() {
    let (wanted, _cleanup) = wanted(&[
        ("BRIDGE_STREAM_MAX_AGE_SECS", "86400"),
        ("BRIDGE_STREAM_MAX_BYTES", "10485760"),
        ("BRIDGE_STREAM_MAX_MSGS", "5000"),
    ]);
    let context = jetstream().await;
    // As an older bridge left it: same subjects, no limits at all.
    let unlimited = StreamConfig {
        max_age: Duration::ZERO,
        max_bytes: -1,
        max_messages: -1,
        ..wanted.clone()
    };
    context.create_stream(unlimited).await.unwrap();
    let subject = wanted.subjects[0].replace('>', "order.created");
    context
        .publish(subject, "kept".into())
        .await
        .unwrap()
        .await
        .unwrap();

    assert_eq!(
        shop_nats::ensure_stream(&context, &wanted).await.unwrap(),
        StreamEnsured::Updated
    );
    let mut stream = context.get_stream(&wanted.name).await.unwrap();
    let info = stream.info().await.unwrap();
    assert_eq!(info.config.max_age, Duration::from_secs(86_400));
    assert_eq!(info.config.max_bytes, 10_485_760);
    assert_eq!(info.config.max_messages, 5_000);
    assert_eq!(info.state.messages, 1, "updated in place, not recreated");
}
