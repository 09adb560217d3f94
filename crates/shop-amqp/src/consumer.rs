//! The one consumer loop. It subscribes, hands the subscription to a [`Mode`] (how deliveries
//! are handled: [`super::consume_concurrently`], of which one at a time is the sequential
//! case, or [`super::consume_ordered`]), and subscribes again, backing off, whenever the
//! subscription fails, its stream ends or its channel silently dies, until shutdown.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{BasicCancelOptions, BasicConsumeOptions};
use lapin::types::{FieldTable, ShortString};
use tokio_util::sync::CancellationToken;

use super::{AmqpError, AmqpLink, reconnect_backoff};

/// How often an idle consumer checks that its channel is still open.
const STALL_CHECK: Duration = Duration::from_secs(2);

/// Why one subscription ended.
pub(super) enum Ended {
    Shutdown,
    Resubscribe,
}

/// What a subscription yielded.
// Returned and matched at once, never stored: boxing the delivery would only add an allocation.
#[allow(clippy::large_enum_variant)]
pub(super) enum Next {
    Delivery(Delivery),
    /// Nothing for a while, and the channel is still open.
    Idle,
    /// The subscription is gone (the reason is logged): resubscribe.
    Lost,
}

/// One `basic.consume` on a channel of the link.
pub(super) struct Subscription {
    channel: lapin::Channel,
    stream: lapin::Consumer,
    queue: String,
    consumer_tag: String,
}

impl Subscription {
    async fn open(link: &AmqpLink, queue: &str, consumer_tag: &str) -> Result<Self, AmqpError> {
        let channel = link.channel().await?;
        let stream = channel
            .basic_consume(
                ShortString::from(queue),
                ShortString::from(consumer_tag),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(AmqpError::Unavailable)?;
        Ok(Self {
            channel,
            stream,
            queue: queue.to_owned(),
            consumer_tag: consumer_tag.to_owned(),
        })
    }

    /// The next delivery, waiting at most [`STALL_CHECK`] before checking the channel.
    pub(super) async fn next(&mut self) -> Next {
        let queue = self.queue.as_str();
        match tokio::time::timeout(STALL_CHECK, self.stream.next()).await {
            Ok(Some(Ok(delivery))) => Next::Delivery(delivery),
            Ok(Some(Err(error))) => {
                tracing::warn!(queue, error = %error, "consumer failed; resubscribing");
                Next::Lost
            }
            Ok(None) => {
                tracing::warn!(queue, "consumer stream ended; resubscribing");
                Next::Lost
            }
            Err(_) if self.is_open() => Next::Idle,
            Err(_) => {
                tracing::warn!(queue, "consumer channel closed; resubscribing");
                Next::Lost
            }
        }
    }

    pub(super) fn is_open(&self) -> bool {
        self.channel.status().connected()
    }

    /// Stops the broker sending more; what is in hand can still be acked.
    pub(super) async fn cancel(&self) {
        let _ = self
            .channel
            .basic_cancel(
                ShortString::from(self.consumer_tag.as_str()),
                BasicCancelOptions::default(),
            )
            .await;
    }

    pub(super) fn queue(&self) -> &str {
        &self.queue
    }
}

/// How deliveries are handled: one subscription at a time, and what is left at the end.
pub(super) trait Mode {
    /// Handles `subscription` until shutdown (after cancelling it) or until it must be
    /// rebuilt.
    async fn run(&mut self, subscription: Subscription, shutdown: &CancellationToken) -> Ended;

    /// Once no subscription remains: finish the deliveries still in hand.
    async fn finish(&mut self) {}
}

/// Consumes `queue` in `mode` until `shutdown`.
pub(super) async fn run<M: Mode>(
    link: Arc<AmqpLink>,
    queue: &str,
    consumer_tag: &str,
    shutdown: CancellationToken,
    mode: &mut M,
) {
    let mut backoff = reconnect_backoff();
    while !shutdown.is_cancelled() {
        match Subscription::open(&link, queue, consumer_tag).await {
            Ok(subscription) => {
                backoff = reconnect_backoff();
                match mode.run(subscription, &shutdown).await {
                    Ended::Shutdown => break,
                    Ended::Resubscribe => link.reset().await,
                }
            }
            Err(error) => {
                let delay = backoff.next().unwrap_or(Duration::from_secs(5));
                tracing::warn!(queue, error = %error, retry_in_ms = delay.as_millis() as u64, "cannot consume");
                link.reset().await;
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
    mode.finish().await;
}

/// Sleeps for one stall check, for a mode that is not reading its stream (its window full)
/// and still wants to notice a dead channel.
pub(super) async fn stall_check() {
    tokio::time::sleep(STALL_CHECK).await;
}
