//! This replica's durable JetStream consumer of the order events, feeding the [`Hub`].
//!
//! Each replica reads the stream through a durable pull consumer of its own (named by
//! [`Source::consumer`]), so every replica sees every event, and one that restarts resumes
//! after the last event it acknowledged instead of skipping what happened while it was down.
//! An event is acknowledged once it is in the hub.
//!
//! The consumer loop never gives up: NATS down, the stream missing or a heartbeat lost mark
//! the hub paused (pages say so) and it retries with a capped backoff until shutdown. A stream
//! found replaced by another of the same name starts the hub over ([`Hub::follow_stream`]).

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::Context;
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull};
use futures_util::StreamExt;
use order_events::{EventType, Rejection};
use shop_nats::reconnect_delay;
use tokio_util::sync::CancellationToken;

use crate::hub::{Hub, OrderUpdate};

/// The events a page follows; anything else in the stream (a deleted order) is passed over.
const FOLLOWED: [EventType; 2] = [EventType::OrderCreated, EventType::OrderStatusChanged];

/// The update an event carries, decoded by the events' own contract crate (`x-schema-version`
/// is the header the bridge copies from the AMQP message).
fn parse_update(
    seq: u64,
    body: &[u8],
    schema_version: Option<&str>,
) -> Result<OrderUpdate, Rejection> {
    let event = order_events::decode(body, schema_version, &FOLLOWED)?;
    let order = event.order;
    Ok(OrderUpdate {
        seq,
        order_id: order.id,
        user_id: order.user_id,
        status: order.status,
        username: order.username,
        product_name: order.product_name,
        quantity: i64::from(order.quantity),
    })
}

/// Which stream and consumer to read.
#[derive(Debug, Clone)]
pub struct Source {
    pub stream: String,
    pub subject_prefix: String,
    pub consumer: String,
}

/// Consumes until `shutdown`, reconnecting after every failure.
pub async fn run(jetstream: Context, source: Source, hub: Arc<Hub>, shutdown: CancellationToken) {
    let mut attempt = 0;
    while !shutdown.is_cancelled() {
        match consume(&jetstream, &source, &hub, &shutdown).await {
            Ok(()) => break,
            Err(error) => {
                hub.set_live(false);
                if attempt % 10 == 0 {
                    tracing::warn!(error = %format!("{error:#}"), "live updates paused");
                }
                attempt += 1;
                tokio::select! {
                    () = tokio::time::sleep(reconnect_delay(attempt)) => {}
                    () = shutdown.cancelled() => break,
                }
            }
        }
    }
    hub.set_live(false);
}

async fn consume(
    jetstream: &Context,
    source: &Source,
    hub: &Hub,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let stream = jetstream.get_stream(&source.stream).await?;
    if hub.follow_stream(&stream.cached_info().created.to_string()) {
        tracing::warn!(
            stream = %source.stream,
            "the stream was replaced; open pages reload"
        );
    }
    let consumer: PullConsumer = stream
        .get_or_create_consumer(
            &source.consumer,
            pull::Config {
                durable_name: Some(source.consumer.clone()),
                description: Some("storefront replica: live order status".into()),
                // One subject filter works on every JetStream version (several need 2.10).
                filter_subject: format!("{}.order.>", source.subject_prefix),
                // A new replica starts with what happens from now; its pages load the present
                // from the Order Service.
                deliver_policy: DeliverPolicy::New,
                ack_policy: AckPolicy::Explicit,
                // A replica gone for good stops holding its consumer after a day.
                inactive_threshold: Duration::from_secs(24 * 3600),
                ..pull::Config::default()
            },
        )
        .await?;
    // Heartbeats make a silent connection loss an error within seconds, so pages learn that
    // live updates paused.
    let mut messages = consumer
        .stream()
        .expires(Duration::from_secs(10))
        .heartbeat(Duration::from_secs(2))
        .messages()
        .await?;
    hub.set_live(true);
    tracing::info!(consumer = %source.consumer, "live updates running");
    loop {
        let next = tokio::select! {
            next = messages.next() => next,
            () = shutdown.cancelled() => return Ok(()),
        };
        let message = match next {
            Some(Ok(message)) => message,
            Some(Err(error)) => return Err(error.into()),
            None => anyhow::bail!("the consumer's message stream ended"),
        };
        let seq = message
            .info()
            .map_err(|error| anyhow::anyhow!("no JetStream metadata: {error}"))?
            .stream_sequence;
        let schema = message
            .headers
            .as_ref()
            .and_then(|headers| headers.get("x-schema-version"))
            .map(|value| value.as_str().to_owned());
        match parse_update(seq, &message.payload, schema.as_deref()) {
            Ok(update) => hub.publish(update),
            Err(Rejection::UnknownEventType(kind)) => {
                tracing::debug!(seq, kind, "event not followed by pages");
            }
            Err(rejection) => tracing::warn!(seq, %rejection, "event ignored"),
        }
        message
            .ack()
            .await
            .map_err(|error| anyhow::anyhow!("ack failed: {error}"))?;
    }
}

#[cfg(test)]
mod tests {
    use order_events::OrderStatus;

    use super::*;

    fn event(kind: EventType) -> String {
        let snapshot = serde_json::json!({
            "id": 42, "user_id": 7, "username": "ann", "product_id": 3,
            "product_name": "Desk", "unit_price": "10.00", "quantity": 2,
            "total_price": "20.00", "status": "shipped",
            "created_at": "2026-11-30T12:00:00.000Z", "updated_at": "2026-11-30T12:00:00.000Z",
        });
        let mut event =
            order_events::OrderEvent::created(serde_json::from_value(snapshot).unwrap());
        event.event_type = kind;
        event.to_json()
    }

    #[test]
    fn only_followed_order_events_become_updates() {
        let body = event(EventType::OrderStatusChanged);
        assert_eq!(
            parse_update(9, body.as_bytes(), Some("1")).unwrap(),
            OrderUpdate {
                seq: 9,
                order_id: 42,
                user_id: 7,
                status: OrderStatus::Shipped,
                username: "ann".into(),
                product_name: "Desk".into(),
                quantity: 2,
            }
        );
        let deleted = event(EventType::OrderDeleted);
        assert!(matches!(
            parse_update(9, deleted.as_bytes(), None),
            Err(Rejection::UnknownEventType(_))
        ));
        assert!(parse_update(9, body.as_bytes(), Some("2")).is_err());
        assert!(parse_update(9, b"not json", None).is_err());
    }
}
