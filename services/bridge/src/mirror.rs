//! Mirrors one delivery: publish to JetStream with `Nats-Msg-Id`, wait for the PubAck, and only
//! then ack the delivery. Any failure short of a PubAck is retried with the same id (JetStream
//! keeps one copy), so a message leaves RabbitMQ only once the stream holds it.
//!
//! The retry happens in place, holding back the deliveries of the same order behind it (see
//! `shop_amqp::consume_ordered` and `message::lane`): an order's events in order
//! are worth more than the throughput of one order during an outage. Messages that can never be mirrored (no valid
//! subject, too large for NATS) are rejected into the dead-letter queue instead of blocking.

use std::time::{Duration, Instant};

use async_nats::HeaderMap;
use async_nats::jetstream::Context;
use async_nats::jetstream::context::{PublishError, PublishErrorKind};
use async_nats::jetstream::publish::PublishAck;
use async_nats::jetstream::stream::Config as StreamConfig;
use bytes::Bytes;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicRejectOptions};
use shop_amqp::{self, Settlement};
use shop_nats::{self, reconnect_delay};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::message::{self, IdSource};
use crate::metrics::{BridgeMetrics, FallbackLabel, ReasonLabel, RoutingKeyLabel};

/// Why a publish attempt failed.
#[derive(Debug)]
enum Failure {
    /// Worth retrying: NATS unreachable, slow, or the stream missing for now.
    Transient(&'static str, PublishError),
    /// Will fail again however often it is tried.
    Permanent(&'static str, PublishError),
}

fn classify(error: PublishError) -> Failure {
    match error.kind() {
        PublishErrorKind::MaxPayloadExceeded => Failure::Permanent("too_large", error),
        PublishErrorKind::TimedOut => Failure::Transient("timeout", error),
        PublishErrorKind::BrokenPipe => Failure::Transient("disconnected", error),
        PublishErrorKind::StreamNotFound => Failure::Transient("stream_not_found", error),
        _ => Failure::Transient("refused", error),
    }
}

/// Everything a handler needs; one per process, shared by all lanes.
#[derive(Debug)]
pub struct Mirror {
    pub jetstream: Context,
    pub stream: StreamConfig,
    pub subject_prefix: String,
    pub queue: String,
    pub metrics: BridgeMetrics,
    /// Stops retrying: an unfinished delivery is left to RabbitMQ to redeliver.
    pub shutdown: CancellationToken,
}

impl Mirror {
    /// Handles one delivery in a span that continues the publisher's trace.
    pub async fn handle(&self, delivery: Delivery) -> Settlement {
        let routing_key = delivery.routing_key.as_str().to_owned();
        let span = tracing::info_span!(
            "bridge.mirror",
            otel.name = %format!("{routing_key} process"),
            otel.kind = "consumer",
            otel.status_code = Empty,
            messaging.system = "rabbitmq",
            messaging.destination.name = %self.queue,
            messaging.rabbitmq.destination.routing_key = %routing_key,
            messaging.message.id = Empty,
            nats.subject = Empty,
            nats.stream.sequence = Empty,
            outcome = Empty,
        );
        // A message without (or with a broken) traceparent starts a new trace.
        let _ = span.set_parent(shop_amqp::trace_context(&delivery.properties));
        self.mirror(delivery, routing_key).instrument(span).await
    }

    async fn mirror(&self, delivery: Delivery, routing_key: String) -> Settlement {
        let received = Instant::now();
        let span = tracing::Span::current();
        if delivery.redelivered {
            self.metrics.redelivered.inc();
        }
        let Some(subject) = message::subject_for(&self.subject_prefix, &routing_key) else {
            return self.dead_letter(&delivery, "invalid_routing_key").await;
        };
        let (message_id, source) =
            message::message_id(&delivery.properties, &routing_key, &delivery.data);
        span.record("messaging.message.id", message_id.as_str());
        span.record("nats.subject", subject.as_str());
        if source != IdSource::MessageId {
            self.note_fallback_id(&message_id, source);
        }
        let mut headers = message::headers(&delivery.properties, &routing_key, &message_id);
        // The JetStream publish (all its attempts) is a producer span of its own under this
        // delivery's span; stream consumers continue from it, in the publisher's trace.
        let publish_span = tracing::info_span!(
            "nats.publish",
            otel.name = %format!("{subject} publish"),
            otel.kind = "producer",
            otel.status_code = Empty,
            messaging.system = "nats",
            messaging.destination.name = %subject,
            messaging.message.id = %message_id,
        );
        publish_span.in_scope(|| shop_nats::inject_trace(&mut headers));
        let occurred_at = message::occurred_at(&delivery.properties, &delivery.data);
        let payload = Bytes::copy_from_slice(&delivery.data);

        let published = self
            .publish_until_stored(&subject, &headers, payload)
            .instrument(publish_span.clone())
            .await;
        if published.is_err() {
            publish_span.record("otel.status_code", "ERROR");
        }
        let ack = match published {
            Ok(ack) => ack,
            Err(Failure::Permanent(reason, error)) => {
                tracing::error!(
                    message_id,
                    error = &error as &dyn std::error::Error,
                    "message cannot be mirrored"
                );
                return self.dead_letter(&delivery, reason).await;
            }
            Err(Failure::Transient(..)) => {
                span.record("outcome", "left_for_redelivery");
                return Settlement::Unsettled;
            }
        };
        self.count_stored(&span, &ack, routing_key, &message_id, occurred_at);
        match delivery.ack(BasicAckOptions::default()).await {
            Ok(_) => {
                self.metrics
                    .mirror_duration
                    .observe(received.elapsed().as_secs_f64());
                Settlement::Settled
            }
            Err(error) => {
                // Stored but not acked: the redelivery will be a duplicate, acked then.
                tracing::warn!(message_id, error = %error, "ack failed; the message will come again");
                Settlement::Unsettled
            }
        }
    }

    /// Publishes until JetStream has the message. Gives up only on a permanent failure, or
    /// on shutdown (a transient failure then), never after a PubAck was asked for and not yet
    /// awaited.
    /// Counts and logs a delivery whose id had to be derived: publishers should set one.
    fn note_fallback_id(&self, message_id: &str, source: IdSource) {
        self.metrics
            .missing_id
            .get_or_create(&FallbackLabel {
                fallback: source.as_str(),
            })
            .inc();
        tracing::warn!(
            message_id,
            fallback = source.as_str(),
            "message without message_id; using a stable fallback id"
        );
    }

    /// Records what the PubAck says: a new message (with its end-to-end latency) or a copy
    /// JetStream already held.
    fn count_stored(
        &self,
        span: &tracing::Span,
        ack: &PublishAck,
        routing_key: String,
        message_id: &str,
        occurred_at: Option<chrono::DateTime<chrono::Utc>>,
    ) {
        span.record("nats.stream.sequence", ack.sequence);
        let label = RoutingKeyLabel { routing_key };
        if ack.duplicate {
            self.metrics.duplicates.get_or_create(&label).inc();
            span.record("outcome", "duplicate");
            tracing::info!(message_id, "already in the stream; acking the redelivery");
        } else {
            self.metrics.mirrored.get_or_create(&label).inc();
            span.record("outcome", "mirrored");
            if let Some(occurred_at) = occurred_at {
                let latency = chrono::Utc::now() - occurred_at;
                if let Ok(latency) = latency.to_std() {
                    self.metrics.end_to_end.observe(latency.as_secs_f64());
                }
            }
        }
    }

    async fn publish_until_stored(
        &self,
        subject: &str,
        headers: &HeaderMap,
        payload: Bytes,
    ) -> Result<PublishAck, Failure> {
        let mut attempt = 0;
        loop {
            let outcome = match self
                .jetstream
                .publish_with_headers(subject.to_owned(), headers.clone(), payload.clone())
                .await
            {
                Ok(pending) => pending.await,
                Err(error) => Err(error),
            };
            let failure = match outcome {
                Ok(ack) => return Ok(ack),
                Err(error) => classify(error),
            };
            let (reason, error) = match &failure {
                Failure::Permanent(..) => return Err(failure),
                Failure::Transient(reason, error) => (*reason, error),
            };
            self.metrics
                .publish_failures
                .get_or_create(&ReasonLabel { reason })
                .inc();
            let delay = reconnect_delay(attempt);
            tracing::warn!(
                reason,
                attempt,
                retry_in_ms = delay.as_millis() as u64,
                error = error as &dyn std::error::Error,
                "JetStream publish failed; retrying"
            );
            if reason == "stream_not_found" {
                self.recreate_stream().await;
            }
            tokio::select! {
                () = self.shutdown.cancelled() => return Err(failure),
                () = tokio::time::sleep(delay) => {}
            }
            attempt += 1;
        }
    }

    /// Someone deleted the stream while the bridge ran: put it back rather than wait forever.
    async fn recreate_stream(&self) {
        if let Err(error) = shop_nats::ensure_stream(&self.jetstream, &self.stream).await {
            tracing::warn!(
                error = &error as &dyn std::error::Error,
                "cannot recreate the stream"
            );
        }
    }

    async fn dead_letter(&self, delivery: &Delivery, reason: &'static str) -> Settlement {
        let span = tracing::Span::current();
        span.record("outcome", "dead_lettered");
        span.record("otel.status_code", "ERROR");
        tracing::error!(
            reason,
            routing_key = %delivery.routing_key,
            message_id = ?delivery.properties.message_id(),
            "cannot mirror this message; moving it to the dead-letter queue"
        );
        match delivery.reject(BasicRejectOptions { requeue: false }).await {
            Ok(_) => {
                self.metrics
                    .dead_lettered
                    .get_or_create(&ReasonLabel { reason })
                    .inc();
                Settlement::Settled
            }
            Err(error) => {
                tracing::warn!(error = %error, "reject failed; the message will come again");
                Settlement::Unsettled
            }
        }
    }
}

/// Waits until the stream exists with the wanted settings, retrying while NATS is unreachable.
/// Returns false if `shutdown` fired first.
pub async fn ensure_stream_until_ready(
    jetstream: &Context,
    stream: &StreamConfig,
    shutdown: &CancellationToken,
) -> bool {
    let mut attempt = 0;
    loop {
        match shop_nats::ensure_stream(jetstream, stream).await {
            Ok(outcome) => {
                tracing::info!(stream = %stream.name, outcome = ?outcome, subjects = ?stream.subjects, "JetStream stream ready");
                return true;
            }
            Err(error) => {
                let delay = reconnect_delay(attempt).max(Duration::from_millis(500));
                tracing::warn!(
                    error = &error as &dyn std::error::Error,
                    retry_in_ms = delay.as_millis() as u64,
                    "JetStream stream not ready"
                );
                tokio::select! {
                    () = shutdown.cancelled() => return false,
                    () = tokio::time::sleep(delay) => {}
                }
                attempt += 1;
            }
        }
    }
}
