//! Consuming with several deliveries in hand at once, and the span each delivery is handled in.
//!
//! Work that waits on another system (mail, webhooks) wants the channel's prefetch window
//! worked through in parallel: [`consume_concurrently`] spawns one task per delivery, up to a
//! limit; a limit of one hands deliveries over one at a time, for work that is quick or must
//! stay in order. On shutdown it cancels the subscription, lets the deliveries in hand finish
//! within a deadline and abandons the rest unacknowledged, so the broker hands them to another
//! consumer.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use lapin::message::Delivery;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::consumer::{self, Ended, Mode, Next, Subscription};
use super::{AmqpLink, trace_context};

/// What [`consume_concurrently`] subscribes to and how much it takes on.
#[derive(Debug, Clone)]
pub struct ConsumerOptions {
    pub queue: String,
    /// Unique per process, so a cancel cancels only this subscription.
    pub consumer_tag: String,
    /// Deliveries handled at once; match it with the channel's prefetch (`basic_qos`). One
    /// means one after the other.
    pub concurrency: usize,
    /// How long deliveries in hand may take to finish once shutdown fires.
    pub drain: Duration,
}

/// Consumes until `shutdown`, running `handle` (which acks or rejects) for up to
/// `options.concurrency` deliveries at once, resubscribing after any failure.
pub async fn consume_concurrently<H, Fut>(
    link: Arc<AmqpLink>,
    options: ConsumerOptions,
    shutdown: CancellationToken,
    handle: H,
) where
    H: Fn(Delivery) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut mode = Concurrent {
        handle,
        limit: options.concurrency.max(1),
        drain: options.drain,
        queue: options.queue.clone(),
        in_hand: JoinSet::new(),
    };
    consumer::run(
        link,
        &options.queue,
        &options.consumer_tag,
        shutdown,
        &mut mode,
    )
    .await;
}

/// The deliveries in hand outlive a subscription: they finish while the consumer resubscribes.
struct Concurrent<H> {
    handle: H,
    limit: usize,
    drain: Duration,
    queue: String,
    in_hand: JoinSet<()>,
}

impl<H, Fut> Mode for Concurrent<H>
where
    H: Fn(Delivery) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    async fn run(&mut self, mut subscription: Subscription, shutdown: &CancellationToken) -> Ended {
        let queue = subscription.queue().to_owned();
        tracing::info!(queue, concurrency = self.limit, "consuming");
        loop {
            while let Some(finished) = self.in_hand.try_join_next() {
                report_panic(&queue, finished);
            }
            if self.in_hand.len() >= self.limit {
                tokio::select! {
                    () = shutdown.cancelled() => {
                        subscription.cancel().await;
                        return Ended::Shutdown;
                    }
                    Some(finished) = self.in_hand.join_next() => {
                        report_panic(&queue, finished);
                        continue;
                    }
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => {
                    subscription.cancel().await;
                    return Ended::Shutdown;
                }
                next = subscription.next() => match next {
                    Next::Delivery(delivery) => {
                        self.in_hand.spawn((self.handle)(delivery));
                    }
                    Next::Idle => {}
                    Next::Lost => return Ended::Resubscribe,
                },
            }
        }
    }

    async fn finish(&mut self) {
        drain(&self.queue, &mut self.in_hand, self.drain).await;
    }
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
