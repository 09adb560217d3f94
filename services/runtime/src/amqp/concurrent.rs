//! Consuming with several deliveries in hand at once, and the span each delivery is handled in.
//!
//! [`consume`](super::consume) hands deliveries over one at a time, which is right for work that
//! is quick or must stay in order. Work that waits on another system (mail, webhooks) wants the
//! channel's prefetch window worked through in parallel: [`consume_concurrently`] spawns one task
//! per delivery, up to a limit, with the same resubscription after drops and stalls. On shutdown
//! it cancels the subscription, lets the deliveries in hand finish within a deadline and
//! abandons the rest unacknowledged, so the broker hands them to another consumer.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{BasicCancelOptions, BasicConsumeOptions};
use lapin::types::{FieldTable, ShortString};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::{AmqpError, AmqpLink, STALL_CHECK, reconnect_backoff, trace_context};

/// What [`consume_concurrently`] subscribes to and how much it takes on.
#[derive(Debug, Clone)]
pub struct ConsumerOptions {
    pub queue: String,
    /// Unique per process, so a cancel cancels only this subscription.
    pub consumer_tag: String,
    /// Deliveries handled at once; match it with the channel's prefetch (`basic_qos`).
    pub concurrency: usize,
    /// How long deliveries in hand may take to finish once shutdown fires.
    pub drain: Duration,
}

/// Consumes until `shutdown`, running `handle` (which acks or rejects) for up to
/// `options.concurrency` deliveries at once. Resubscribes after any failure, like
/// [`consume`](super::consume).
pub async fn consume_concurrently<H, Fut>(
    link: Arc<AmqpLink>,
    options: ConsumerOptions,
    shutdown: CancellationToken,
    handle: H,
) where
    H: Fn(Delivery) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let handle = Arc::new(handle);
    let limit = options.concurrency.max(1);
    let queue = options.queue.as_str();
    let mut in_hand: JoinSet<()> = JoinSet::new();
    let mut backoff = reconnect_backoff();
    'subscriptions: while !shutdown.is_cancelled() {
        let subscribed = async {
            let channel = link.channel().await?;
            let consumer = channel
                .basic_consume(
                    ShortString::from(queue),
                    ShortString::from(options.consumer_tag.as_str()),
                    BasicConsumeOptions::default(),
                    FieldTable::default(),
                )
                .await
                .map_err(AmqpError::Unavailable)?;
            Ok::<_, AmqpError>((channel, consumer))
        }
        .await;
        let (channel, mut consumer) = match subscribed {
            Ok(subscription) => subscription,
            Err(error) => {
                let delay = backoff.next().unwrap_or(Duration::from_secs(5));
                tracing::warn!(queue, error = %error, retry_in_ms = delay.as_millis() as u64, "cannot consume");
                link.reset().await;
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(delay) => continue,
                }
            }
        };
        tracing::info!(queue, concurrency = limit, "consuming");
        backoff = reconnect_backoff();
        loop {
            while let Some(finished) = in_hand.try_join_next() {
                report_panic(queue, finished);
            }
            if in_hand.len() >= limit {
                tokio::select! {
                    () = shutdown.cancelled() => {
                        cancel(&channel, &options.consumer_tag).await;
                        break 'subscriptions;
                    }
                    Some(finished) = in_hand.join_next() => {
                        report_panic(queue, finished);
                        continue;
                    }
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => {
                    cancel(&channel, &options.consumer_tag).await;
                    break 'subscriptions;
                }
                next = tokio::time::timeout(STALL_CHECK, consumer.next()) => match next {
                    Ok(Some(Ok(delivery))) => {
                        in_hand.spawn(handle(delivery));
                    }
                    Ok(Some(Err(error))) => {
                        tracing::warn!(queue, error = %error, "consumer failed; resubscribing");
                        break;
                    }
                    Ok(None) => {
                        tracing::warn!(queue, "consumer stream ended; resubscribing");
                        break;
                    }
                    Err(_) if channel.status().connected() => {}
                    Err(_) => {
                        tracing::warn!(queue, "consumer channel closed; resubscribing");
                        break;
                    }
                },
            }
        }
        link.reset().await;
    }
    drain(queue, &mut in_hand, options.drain).await;
}

async fn cancel(channel: &lapin::Channel, consumer_tag: &str) {
    let _ = channel
        .basic_cancel(
            ShortString::from(consumer_tag),
            BasicCancelOptions::default(),
        )
        .await;
}

/// Waits for the deliveries in hand; past `deadline` they are abandoned unacknowledged and the
/// broker redelivers them once the connection closes.
async fn drain(queue: &str, in_hand: &mut JoinSet<()>, deadline: Duration) {
    if in_hand.is_empty() {
        return;
    }
    tracing::info!(
        queue,
        in_hand = in_hand.len(),
        "finishing deliveries in hand"
    );
    let finished = tokio::time::timeout(deadline, async {
        while let Some(outcome) = in_hand.join_next().await {
            report_panic(queue, outcome);
        }
    })
    .await;
    if finished.is_err() {
        tracing::warn!(
            queue,
            abandoned = in_hand.len(),
            "deliveries still in hand at the deadline are returned to the queue"
        );
        in_hand.abort_all();
        while in_hand.join_next().await.is_some() {}
    }
}

fn report_panic(queue: &str, outcome: Result<(), tokio::task::JoinError>) {
    if let Err(error) = outcome
        && error.is_panic()
    {
        // The delivery stays unacknowledged and returns to the queue when the channel closes.
        tracing::error!(queue, error = %error, "delivery handler panicked");
    }
}

/// The consumer span of one delivery, continuing the producer's trace from the message's
/// `traceparent` header (a missing or malformed one starts a new trace).
pub fn delivery_span(queue: &str, delivery: &Delivery) -> tracing::Span {
    let message_id = delivery
        .properties
        .message_id()
        .as_ref()
        .map(|id| id.as_str().to_owned())
        .unwrap_or_default();
    let span = tracing::info_span!(
        "amqp.consume",
        otel.name = %format!("{queue} process"),
        otel.kind = "consumer",
        otel.status_code = tracing::field::Empty,
        messaging.system = "rabbitmq",
        messaging.operation.type = "process",
        messaging.destination.name = %delivery.exchange,
        messaging.rabbitmq.destination.routing_key = %delivery.routing_key,
        messaging.consumer.group.name = queue,
        messaging.message.id = %message_id,
        messaging.rabbitmq.redelivered = delivery.redelivered,
    );
    let _ = span.set_parent(trace_context(&delivery.properties));
    span
}
