//! The pause schedule between reconnection attempts, shared by everything that reconnects on
//! its own (AMQP links and consumers, the outbox relay, Redis subscriptions).

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

/// Delays between reconnection attempts: 100 ms doubling to 5 s, with jitter, forever.
pub fn reconnect_backoff() -> impl Iterator<Item = Duration> {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_secs(5))
        .with_jitter()
        .without_max_times()
        .build()
}
