//! What happens to one delivery, from decoding to its acknowledgement.
//!
//! 1. Decode (see [`crate::event`]); a message that is not a known event is dead-lettered at
//!    once.
//! 2. Send through every channel not yet done: channels that succeeded on an earlier attempt
//!    are listed in the `x-notification-delivered` header and skipped, and the dedup memory
//!    skips any that this replica already sent.
//! 3. All sent → ack. A permanent failure → dead letter. A transient one → a copy goes to the
//!    delay queue with `x-notification-attempt` raised by one and the original is acked; when
//!    the attempts are used up → dead letter. A channel whose lease another replica holds →
//!    the copy waits in the delay queue without using up an attempt.
//!
//! The copy is published with a confirm *before* the ack, so a crash between the two means a
//! redelivery (which dedup absorbs), never a loss. If the broker refuses the copy, the original
//! is returned to the queue instead. Those moves are in [`disposition`].

use std::sync::Arc;
use std::time::Instant;

use futures_util::future::join_all;
use lapin::message::Delivery;
use shop_amqp::{self, AmqpLink};
use tracing::Instrument;

use crate::channels::{Channel, SendError};
use crate::dedup::Dedup;
use crate::event::{self, OrderEvent};
use crate::headers::{
    ATTEMPT_HEADER, DELIVERED_HEADER, SCHEMA_HEADER, message_id, probable_order_id,
};
use crate::metrics::{NotificationMetrics, Outcome};
use crate::queues::{QueueNames, RetryPolicy};
use crate::shared_dedup::{Claim, SharedDedup};

mod disposition;

use disposition::ack;

#[derive(Debug)]
pub struct Handler {
    pub link: Arc<AmqpLink>,
    pub names: QueueNames,
    pub retry: RetryPolicy,
    pub channels: Vec<Arc<Channel>>,
    pub dedup: Dedup,
    /// The record shared by all replicas (`NOTIFY_DEDUP_STORE=redis`), consulted after `dedup`.
    pub shared_dedup: Option<SharedDedup>,
    pub metrics: NotificationMetrics,
}

/// What the channels made of one attempt.
enum Verdict {
    Delivered {
        duplicates_only: bool,
    },
    /// Every other channel is done, but another replica holds the lease on at least one: it is
    /// sending, or it died while sending and its lease has yet to expire.
    Busy,
    Transient(String),
    Permanent(String),
}

/// What one channel made of one attempt.
enum ChannelResult {
    Sent,
    /// This replica, or (per the shared record) another one, has already sent it.
    AlreadySent,
    /// Another replica holds the lease on it.
    Busy,
    Failed(SendError),
}

impl Handler {
    /// Handles one delivery inside a consumer span that continues the producer's trace.
    pub async fn handle(self: Arc<Self>, delivery: Delivery) {
        let span = shop_amqp::delivery_span(&self.names.queue, &delivery);
        async {
            let started = Instant::now();
            let outcome = self.process(&delivery).await;
            if matches!(outcome, Outcome::DeadLettered | Outcome::Returned) {
                tracing::Span::current().record("otel.status_code", "ERROR");
            }
            self.metrics
                .finished(outcome, started.elapsed().as_secs_f64());
        }
        .instrument(span)
        .await;
    }

    async fn process(&self, delivery: &Delivery) -> Outcome {
        let properties = &delivery.properties;
        let attempt = shop_amqp::header(properties, ATTEMPT_HEADER)
            .and_then(|value| value.parse::<u32>().ok())
            .unwrap_or(1)
            .max(1);
        let mut done: Vec<String> = shop_amqp::header(properties, DELIVERED_HEADER)
            .map(|list| list.split(',').map(str::to_owned).collect())
            .unwrap_or_default();
        let event =
            match event::decode(&delivery.data, shop_amqp::header(properties, SCHEMA_HEADER)) {
                Ok(event) => event,
                Err(rejection) => {
                    tracing::warn!(
                        order_id = probable_order_id(&delivery.data),
                        message_id = message_id(properties),
                        reason = rejection.reason(),
                        error = %rejection,
                        "notification rejected: not an event this service knows"
                    );
                    let failure = (rejection.reason(), rejection.to_string());
                    return self.dead_letter(delivery, failure, attempt, &done).await;
                }
            };
        tracing::info!(
            order_id = event.order.id,
            event_id = %event.event_id,
            event_type = event.event_type.as_str(),
            attempt,
            redelivered = delivery.redelivered,
            "notification received"
        );
        match self.send_all(&event, &mut done).await {
            Verdict::Delivered { duplicates_only } => {
                if duplicates_only {
                    tracing::info!(
                        order_id = event.order.id,
                        event_id = %event.event_id,
                        "duplicate event: already notified, not notifying again"
                    );
                }
                ack(delivery, &event).await;
                if duplicates_only {
                    Outcome::Duplicate
                } else {
                    Outcome::Delivered
                }
            }
            Verdict::Busy => self.wait_for_lease(delivery, &event, attempt, &done).await,
            Verdict::Permanent(error) => {
                let failure = ("permanent_failure", error);
                self.dead_letter_event(delivery, &event, failure, attempt, &done)
                    .await
            }
            Verdict::Transient(error) if self.retry.allows_retry_after(attempt) => {
                self.schedule_retry(delivery, &event, attempt, &done, &error)
                    .await
            }
            Verdict::Transient(error) => {
                let failure = ("attempts_exhausted", error);
                self.dead_letter_event(delivery, &event, failure, attempt, &done)
                    .await
            }
        }
    }

    /// Sends through every channel not in `done` at once, adding those that succeed.
    async fn send_all(&self, event: &OrderEvent, done: &mut Vec<String>) -> Verdict {
        let pending = self
            .channels
            .iter()
            .filter(|channel| !done.iter().any(|name| name == channel.kind().name()));
        let results = join_all(pending.map(|channel| self.send_one(channel, event))).await;
        let mut verdict = Verdict::Delivered {
            duplicates_only: !results.is_empty(),
        };
        for (name, result) in results {
            match result {
                ChannelResult::Sent | ChannelResult::AlreadySent => {
                    done.push(name.to_owned());
                    if let Verdict::Delivered { duplicates_only } = &mut verdict {
                        *duplicates_only &= matches!(result, ChannelResult::AlreadySent);
                    }
                }
                ChannelResult::Busy => {
                    if matches!(verdict, Verdict::Delivered { .. }) {
                        verdict = Verdict::Busy;
                    }
                }
                ChannelResult::Failed(SendError::Permanent(error)) => {
                    verdict = Verdict::Permanent(format!("{name}: {error}"));
                }
                ChannelResult::Failed(SendError::Transient(error)) => {
                    if !matches!(verdict, Verdict::Permanent(_)) {
                        verdict = Verdict::Transient(format!("{name}: {error}"));
                    }
                }
            }
        }
        verdict
    }

    async fn send_one(
        &self,
        channel: &Channel,
        event: &OrderEvent,
    ) -> (&'static str, ChannelResult) {
        let name = channel.kind().name();
        let key = format!("{}/{name}", event.event_id);
        if !self.dedup.claim(&key) {
            return (name, ChannelResult::AlreadySent);
        }
        if let Some(shared) = &self.shared_dedup {
            match shared.claim(&key).await {
                Claim::Mine | Claim::Unavailable => {}
                Claim::Delivered => {
                    self.dedup.delivered(&key);
                    return (name, ChannelResult::AlreadySent);
                }
                Claim::Elsewhere => {
                    self.dedup.release(&key);
                    return (name, ChannelResult::Busy);
                }
            }
        }
        match channel.send(event).await {
            Ok(()) => {
                self.dedup.delivered(&key);
                if let Some(shared) = &self.shared_dedup {
                    shared.delivered(&key).await;
                }
                self.metrics.sent(name);
                (name, ChannelResult::Sent)
            }
            Err(error) => {
                self.dedup.release(&key);
                if let Some(shared) = &self.shared_dedup {
                    shared.release(&key).await;
                }
                let kind = match error {
                    SendError::Transient(_) => "transient",
                    SendError::Permanent(_) => "permanent",
                };
                self.metrics.failed(name, kind);
                tracing::warn!(
                    channel = name,
                    order_id = event.order.id,
                    event_id = %event.event_id,
                    kind,
                    error = %error,
                    "notification failed"
                );
                (name, ChannelResult::Failed(error))
            }
        }
    }
}
