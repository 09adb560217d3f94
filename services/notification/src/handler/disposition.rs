//! Where a delivery goes once its attempt is judged: acknowledged, parked in a delay queue for
//! a retry (or to wait out another replica's lease), dead-lettered, or given back to the queue.
//! A copy is always published with a confirm before the original is acked.

use std::time::Duration;

use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicNackOptions};
use lapin::types::ShortString;

use super::Handler;
use crate::event::OrderEvent;
use crate::headers::{
    ATTEMPT_HEADER, DELIVERED_HEADER, ERROR_HEADER, FAILURE_HEADER, forwarded, probable_order_id,
};
use crate::metrics::Outcome;

impl Handler {
    pub(super) async fn schedule_retry(
        &self,
        delivery: &Delivery,
        event: &OrderEvent,
        attempt: u32,
        done: &[String],
        error: &str,
    ) -> Outcome {
        let delay = self.retry.delay_after(attempt);
        self.park(delivery, event, (attempt, attempt + 1), delay, done, error)
            .await
    }

    /// Another replica holds the lease on a channel of this event. Dropping the copy could
    /// lose the notification (that replica may have died mid-send), and counting the wait as
    /// a failed attempt could use up every attempt before the lease expires and dead-letter
    /// it. So the copy waits in the longest delay queue, keeping its attempt number, and comes
    /// back until the lease is released, marked delivered or expired; the lease bounds the
    /// wait. With no delay queue (`NOTIFY_MAX_ATTEMPTS=1`) it is a failed attempt like any.
    pub(super) async fn wait_for_lease(
        &self,
        delivery: &Delivery,
        event: &OrderEvent,
        attempt: u32,
        done: &[String],
    ) -> Outcome {
        let error = "another replica holds the lease on this notification";
        match self.retry.delays().last() {
            Some(&delay) => {
                self.park(delivery, event, (attempt, attempt), delay, done, error)
                    .await
            }
            None => {
                let failure = ("attempts_exhausted", error.to_owned());
                self.dead_letter_event(delivery, event, failure, attempt, done)
                    .await
            }
        }
    }

    /// Publishes a copy to the delay queue of `delay`, carrying attempt number `next`, then
    /// acks the original.
    async fn park(
        &self,
        delivery: &Delivery,
        event: &OrderEvent,
        (attempt, next): (u32, u32),
        delay: Duration,
        done: &[String],
        error: &str,
    ) -> Outcome {
        let delay_queue = self.names.delay_queue(delay);
        let next_attempt = next;
        let next = next.to_string();
        let done = done.join(",");
        let properties = forwarded(
            delivery,
            &[(ATTEMPT_HEADER, next.as_str()), (DELIVERED_HEADER, &done)],
        )
        .with_expiration(ShortString::from(delay.as_millis().to_string()));
        match self
            .link
            .publish_confirmed("", &delay_queue, &delivery.data, properties)
            .await
        {
            Ok(()) => {
                tracing::info!(
                    order_id = event.order.id,
                    event_id = %event.event_id,
                    attempt,
                    next_attempt,
                    delay_ms = delay.as_millis() as u64,
                    error,
                    "notification retry scheduled"
                );
                ack(delivery, event).await;
                Outcome::Retried
            }
            Err(publish_error) => {
                tracing::error!(
                    order_id = event.order.id,
                    event_id = %event.event_id,
                    error = %publish_error,
                    "cannot park the event for a retry; returning it to the queue"
                );
                give_back(delivery).await;
                Outcome::Returned
            }
        }
    }

    pub(super) async fn dead_letter_event(
        &self,
        delivery: &Delivery,
        event: &OrderEvent,
        failure: (&'static str, String),
        attempt: u32,
        done: &[String],
    ) -> Outcome {
        tracing::error!(
            order_id = event.order.id,
            event_id = %event.event_id,
            reason = failure.0,
            attempt,
            error = %failure.1,
            "notification failed for good; dead-lettering it"
        );
        self.dead_letter(delivery, failure, attempt, done).await
    }

    pub(super) async fn dead_letter(
        &self,
        delivery: &Delivery,
        (reason, error): (&'static str, String),
        attempt: u32,
        done: &[String],
    ) -> Outcome {
        let attempt = attempt.to_string();
        let done = done.join(",");
        let error: String = error.chars().take(1_000).collect();
        let properties = forwarded(
            delivery,
            &[
                (FAILURE_HEADER, reason),
                (ERROR_HEADER, &error),
                (ATTEMPT_HEADER, &attempt),
                (DELIVERED_HEADER, &done),
            ],
        );
        let published = self
            .link
            .publish_confirmed("", &self.names.dead_letters, &delivery.data, properties)
            .await;
        let order_id = probable_order_id(&delivery.data);
        match published {
            Ok(()) => {
                self.metrics.dead_lettered(reason);
                if let Err(ack_error) = delivery.ack(BasicAckOptions::default()).await {
                    tracing::warn!(order_id, error = %ack_error, "ack failed; the broker will redeliver");
                }
                tracing::info!(order_id, reason, queue = %self.names.dead_letters, "dead-lettered");
                Outcome::DeadLettered
            }
            Err(publish_error) => {
                tracing::error!(order_id, error = %publish_error, "cannot dead-letter; returning the message to the queue");
                give_back(delivery).await;
                Outcome::Returned
            }
        }
    }
}

pub(super) async fn ack(delivery: &Delivery, event: &OrderEvent) {
    if let Err(error) = delivery.ack(BasicAckOptions::default()).await {
        // The broker redelivers; the dedup memory keeps that from notifying twice.
        tracing::warn!(
            order_id = event.order.id,
            event_id = %event.event_id,
            error = %error,
            "ack failed; the broker will redeliver"
        );
    }
}

async fn give_back(delivery: &Delivery) {
    let requeue = BasicNackOptions {
        requeue: true,
        ..BasicNackOptions::default()
    };
    // If the channel is gone the broker requeues it anyway.
    let _ = delivery.nack(requeue).await;
}
