//! Live order status: the mirror's events from JetStream, fanned out to the open pages.
//!
//! Each replica reads the stream through a durable pull consumer of its own
//! (`STOREFRONT_CONSUMER`), so every replica sees every event, and one that restarts resumes
//! after the last event it acknowledged instead of skipping what happened while it was down.
//! An event is acknowledged once it is in the [`Hub`]: the broadcast to open pages plus a ring
//! of recent events that a page replays from the stream sequence it last saw (the sequence is
//! the SSE event id, so a browser's automatic reconnect sends it back as `Last-Event-ID`).
//!
//! The consumer loop never gives up: NATS down, the stream missing or a heartbeat lost mark
//! the hub paused (pages say so) and it retries with a capped backoff until shutdown.
//!
//! A stream that comes back as a different one (deleted and created again by the bridge, or
//! kept in memory and lost with a NATS restart) counts from 1 again: the sequences the hub and
//! the open pages hold mean nothing in it. The hub then starts over and tells the open pages
//! to reload ([`Hub::watch_replaced`]).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::Context;
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull};
use futures_util::StreamExt;
use order_events::{EventType, OrderStatus, Rejection};
use shop_nats::reconnect_delay;
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

/// One order's new status, as the page needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderUpdate {
    /// The event's sequence in the stream: increasing, the SSE event id.
    pub seq: u64,
    pub order_id: i64,
    /// Whose order it is: a page gets only its own user's updates.
    pub user_id: i64,
    pub status: OrderStatus,
    /// Shown on the admin's fulfilment page, which lists the orders the events announced.
    pub username: String,
    pub product_name: String,
    pub quantity: i64,
}

/// What a page that reconnects gets before the live updates.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Replay {
    pub updates: Vec<Arc<OrderUpdate>>,
    /// Events after the page's position have left the ring: the page must reload.
    pub gap: bool,
}

/// Where the consumer's events go; shared by the consumer loop and the SSE handlers.
#[derive(Debug)]
pub struct Hub {
    sender: broadcast::Sender<Arc<OrderUpdate>>,
    recent: Mutex<Recent>,
    live: watch::Sender<bool>,
    /// How many times the stream was found replaced.
    replaced: watch::Sender<u64>,
}

#[derive(Debug, Default)]
struct Recent {
    ring: VecDeque<Arc<OrderUpdate>>,
    capacity: usize,
    /// The highest sequence pushed out of the ring.
    evicted: u64,
    last: u64,
    /// Which stream the sequences count in (see [`Hub::follow_stream`]).
    stream: Option<String>,
}

impl Hub {
    pub fn new(capacity: usize) -> Arc<Self> {
        let (sender, _) = broadcast::channel(1024);
        Arc::new(Self {
            sender,
            recent: Mutex::new(Recent {
                capacity,
                ..Recent::default()
            }),
            live: watch::Sender::new(false),
            replaced: watch::Sender::new(0),
        })
    }

    /// Notes which stream the consumer reads, by an identity that differs between two streams
    /// of the same name (its creation time). A stream other than the one seen before has
    /// replaced it: the hub forgets what it held and tells open pages; returns whether so.
    pub fn follow_stream(&self, identity: &str) -> bool {
        {
            let mut recent = self.recent.lock().expect("hub lock poisoned");
            match &recent.stream {
                Some(known) if known != identity => {
                    *recent = Recent {
                        capacity: recent.capacity,
                        stream: Some(identity.to_owned()),
                        ..Recent::default()
                    };
                }
                Some(_) => return false,
                None => {
                    recent.stream = Some(identity.to_owned());
                    return false;
                }
            }
        }
        self.replaced.send_modify(|count| *count += 1);
        true
    }

    /// Changes when the stream was replaced: a page's position no longer means anything.
    pub fn watch_replaced(&self) -> watch::Receiver<u64> {
        self.replaced.subscribe()
    }

    /// Records and broadcasts an update. Sequences only grow (a durable consumer delivers in
    /// order); a redelivered one already seen is dropped.
    pub fn publish(&self, update: OrderUpdate) {
        let update = Arc::new(update);
        {
            let mut recent = self.recent.lock().expect("hub lock poisoned");
            if update.seq <= recent.last {
                return;
            }
            recent.last = update.seq;
            if recent.ring.len() == recent.capacity
                && let Some(old) = recent.ring.pop_front()
            {
                recent.evicted = old.seq;
            }
            recent.ring.push_back(update.clone());
        }
        // No open page is not an error.
        let _ = self.sender.send(update);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<OrderUpdate>> {
        self.sender.subscribe()
    }

    /// The sequence of the newest event seen: a page rendered now has seen everything up to it.
    pub fn last_seq(&self) -> u64 {
        self.recent.lock().expect("hub lock poisoned").last
    }

    /// `user_id`'s updates after sequence `after`.
    pub fn replay(&self, user_id: i64, after: u64) -> Replay {
        let recent = self.recent.lock().expect("hub lock poisoned");
        Replay {
            updates: recent
                .ring
                .iter()
                .filter(|update| update.seq > after && update.user_id == user_id)
                .cloned()
                .collect(),
            gap: after < recent.evicted,
        }
    }

    /// The latest update of each of the `limit` most recently changed orders, newest first.
    pub fn recent_orders(&self, limit: usize) -> Vec<Arc<OrderUpdate>> {
        let recent = self.recent.lock().expect("hub lock poisoned");
        let mut seen = std::collections::HashSet::new();
        recent
            .ring
            .iter()
            .rev()
            .filter(|update| seen.insert(update.order_id))
            .take(limit)
            .cloned()
            .collect()
    }

    pub fn is_live(&self) -> bool {
        *self.live.borrow()
    }

    pub fn watch_live(&self) -> watch::Receiver<bool> {
        self.live.subscribe()
    }

    fn set_live(&self, live: bool) {
        self.live.send_if_modified(|current| {
            let changed = *current != live;
            *current = live;
            changed
        });
    }
}

/// The events a page follows; anything else in the stream (a deleted order) is passed over.
const FOLLOWED: [EventType; 2] = [EventType::OrderCreated, EventType::OrderStatusChanged];

/// The update an event carries, decoded by the events' own contract crate (`x-schema-version`
/// is the header the bridge copies from the AMQP message).
pub fn parse_update(
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
    use super::*;

    fn update(seq: u64, user_id: i64) -> OrderUpdate {
        OrderUpdate {
            seq,
            order_id: 1,
            user_id,
            status: OrderStatus::Shipped,
            username: String::new(),
            product_name: String::new(),
            quantity: 0,
        }
    }

    #[test]
    fn replay_gives_one_user_what_came_after_a_position() {
        let hub = Hub::new(10);
        for (seq, user) in [(1, 7), (2, 8), (3, 7)] {
            hub.publish(update(seq, user));
        }
        let replay = hub.replay(7, 1);
        assert_eq!(replay.updates.len(), 1);
        assert_eq!(replay.updates[0].seq, 3);
        assert!(!replay.gap);
        assert_eq!(hub.last_seq(), 3);
    }

    #[test]
    fn a_position_older_than_the_ring_is_a_gap() {
        let hub = Hub::new(2);
        for seq in 1..=4 {
            hub.publish(update(seq, 7));
        }
        assert!(hub.replay(7, 1).gap);
        assert!(!hub.replay(7, 2).gap);
    }

    #[test]
    fn a_replaced_stream_starts_the_hub_over_and_says_so() {
        let hub = Hub::new(10);
        let replaced = hub.watch_replaced();
        assert!(!hub.follow_stream("created at one"));
        hub.publish(update(5, 7));
        assert!(!hub.follow_stream("created at one"));
        assert!(!replaced.has_changed().unwrap());

        assert!(hub.follow_stream("created at two"));
        assert!(replaced.has_changed().unwrap());
        assert_eq!(hub.last_seq(), 0);
        assert!(hub.replay(7, 0).updates.is_empty());
        // The new stream's first event is no redelivery.
        hub.publish(update(1, 7));
        assert_eq!(hub.replay(7, 0).updates.len(), 1);
    }

    #[test]
    fn recent_orders_show_each_order_once_newest_first() {
        let hub = Hub::new(10);
        for (seq, order_id) in [(1, 1), (2, 2), (3, 1)] {
            hub.publish(OrderUpdate {
                order_id,
                ..update(seq, 7)
            });
        }
        let recent: Vec<_> = hub.recent_orders(10).iter().map(|u| u.seq).collect();
        assert_eq!(recent, [3, 2]);
    }

    #[test]
    fn redeliveries_are_dropped() {
        let hub = Hub::new(10);
        let mut receiver = hub.subscribe();
        hub.publish(update(5, 7));
        hub.publish(update(5, 7));
        hub.publish(update(4, 7));
        assert_eq!(receiver.try_recv().unwrap().seq, 5);
        assert!(receiver.try_recv().is_err());
    }

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
