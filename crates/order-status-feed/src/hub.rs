//! The hub between the consumer and the pages: a broadcast of every update, a ring of recent
//! ones, whether updates are running, and one [`Follower`] per open page.
//!
//! A page replays from the stream sequence it last saw (the sequence is the SSE event id, so a
//! browser's automatic reconnect sends it back as `Last-Event-ID`); when the ring no longer
//! reaches back that far, the follower asks the page to reload.
//!
//! A stream that comes back as a different one (deleted and created again by the bridge, or
//! kept in memory and lost with a NATS restart) counts from 1 again: the sequences the hub and
//! the open pages hold mean nothing in it. The hub then starts over and tells the open pages
//! to reload ([`Hub::follow_stream`]).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use order_events::OrderStatus;
use tokio::sync::{broadcast, watch};

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
struct Replay {
    updates: Vec<Arc<OrderUpdate>>,
    /// Events after the page's position have left the ring: the page must reload.
    gap: bool,
}

/// Where the consumer's events go; shared by the consumer loop and the pages' followers.
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
    pub(crate) fn follow_stream(&self, identity: &str) -> bool {
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
    fn watch_replaced(&self) -> watch::Receiver<u64> {
        self.replaced.subscribe()
    }

    /// Records and broadcasts an update. Sequences only grow (a durable consumer delivers in
    /// order); a redelivered one already seen is dropped.
    pub(crate) fn publish(&self, update: OrderUpdate) {
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

    fn subscribe(&self) -> broadcast::Receiver<Arc<OrderUpdate>> {
        self.sender.subscribe()
    }

    /// A page's feed of `user_id`'s updates after sequence `after` (the position the page was
    /// rendered at, or the last event it got), then of the live ones.
    pub fn follow(&self, user_id: i64, after: u64) -> Follower {
        // Subscribe before reading the ring, so nothing falls between the replay and live events.
        let updates = self.subscribe();
        let replaced = self.watch_replaced();
        let mut live = self.watch_live();
        let replay = self.replay(user_id, after);
        let mut queued = VecDeque::from([FeedEvent::Live(*live.borrow_and_update())]);
        let mut last_sent = after;
        if replay.gap {
            queued.push_back(FeedEvent::Resync);
        }
        for update in replay.updates {
            last_sent = last_sent.max(update.seq);
            queued.push_back(FeedEvent::Status(update));
        }
        Follower {
            user_id,
            updates,
            live,
            replaced,
            queued,
            last_sent,
            done: replay.gap,
        }
    }

    /// The sequence of the newest event seen: a page rendered now has seen everything up to it.
    pub fn last_seq(&self) -> u64 {
        self.recent.lock().expect("hub lock poisoned").last
    }

    /// `user_id`'s updates after sequence `after`.
    fn replay(&self, user_id: i64, after: u64) -> Replay {
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

    fn watch_live(&self) -> watch::Receiver<bool> {
        self.live.subscribe()
    }

    pub(crate) fn set_live(&self, live: bool) {
        self.live.send_if_modified(|current| {
            let changed = *current != live;
            *current = live;
            changed
        });
    }
}

/// What a page is told, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedEvent {
    /// One of the page's user's orders changed; `seq` is the position to resume after.
    Status(Arc<OrderUpdate>),
    /// Live updates are running (`true`) or paused: sent first, then at every change.
    Live(bool),
    /// Updates were lost (the ring or the broadcast left this page behind) or the stream was
    /// replaced: the page must reload. Nothing follows it.
    Resync,
}

/// One page's feed, from [`Hub::follow`]: its user's updates only, each once, in order.
#[derive(Debug)]
pub struct Follower {
    user_id: i64,
    updates: broadcast::Receiver<Arc<OrderUpdate>>,
    live: watch::Receiver<bool>,
    /// Changes when the stream was replaced: the page must reload.
    replaced: watch::Receiver<u64>,
    queued: VecDeque<FeedEvent>,
    last_sent: u64,
    /// A resync was queued: the feed ends once the queue is sent.
    done: bool,
}

impl Follower {
    /// The next event for the page, or `None` when the feed has ended (after a resync, or with
    /// the hub gone). Cancel-safe: an event is taken only when it is returned.
    pub async fn next(&mut self) -> Option<FeedEvent> {
        loop {
            if let Some(event) = self.queued.pop_front() {
                return Some(event);
            }
            if self.done {
                return None;
            }
            tokio::select! {
                received = self.updates.recv() => match received {
                    Ok(update) if update.user_id == self.user_id && update.seq > self.last_sent => {
                        self.last_sent = update.seq;
                        return Some(FeedEvent::Status(update));
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        // This page fell behind the broadcast: it reloads rather than guess.
                        self.done = true;
                        return Some(FeedEvent::Resync);
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                changed = self.replaced.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                    self.done = true;
                    return Some(FeedEvent::Resync);
                }
                changed = self.live.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                    return Some(FeedEvent::Live(*self.live.borrow_and_update()));
                }
            }
        }
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

    #[tokio::test]
    async fn a_follower_gets_the_live_state_its_replay_then_its_own_new_updates() {
        let hub = Hub::new(10);
        hub.publish(update(1, 7));
        hub.publish(update(2, 8));
        let mut follower = hub.follow(7, 0);
        hub.publish(update(3, 8));
        hub.publish(update(4, 7));
        let mut seen = Vec::new();
        for _ in 0..3 {
            seen.push(follower.next().await.unwrap());
        }
        assert_eq!(
            seen,
            [
                FeedEvent::Live(false),
                FeedEvent::Status(Arc::new(update(1, 7))),
                FeedEvent::Status(Arc::new(update(4, 7))),
            ]
        );
    }

    #[tokio::test]
    async fn a_gap_sends_a_resync_then_the_replay_and_ends_the_feed() {
        let hub = Hub::new(2);
        for seq in 1..=4 {
            hub.publish(update(seq, 7));
        }
        let mut follower = hub.follow(7, 1);
        assert_eq!(follower.next().await, Some(FeedEvent::Live(false)));
        assert_eq!(follower.next().await, Some(FeedEvent::Resync));
        for seq in [3, 4] {
            assert_eq!(
                follower.next().await,
                Some(FeedEvent::Status(Arc::new(update(seq, 7))))
            );
        }
        assert_eq!(follower.next().await, None);
    }

    #[tokio::test]
    async fn followers_hear_of_the_live_state_and_of_a_replaced_stream() {
        let hub = Hub::new(10);
        assert!(!hub.follow_stream("created at one"));
        let mut follower = hub.follow(7, 0);
        assert_eq!(follower.next().await, Some(FeedEvent::Live(false)));
        hub.set_live(true);
        assert_eq!(follower.next().await, Some(FeedEvent::Live(true)));
        assert!(hub.follow_stream("created at two"));
        assert_eq!(follower.next().await, Some(FeedEvent::Resync));
        assert_eq!(follower.next().await, None);
    }

    #[tokio::test]
    async fn a_follower_left_behind_by_the_broadcast_resyncs() {
        let hub = Hub::new(10);
        let mut follower = hub.follow(7, 0);
        assert_eq!(follower.next().await, Some(FeedEvent::Live(false)));
        // More than the broadcast holds, none of them read meanwhile.
        for seq in 1..=2000 {
            hub.publish(update(seq, 8));
        }
        assert_eq!(follower.next().await, Some(FeedEvent::Resync));
        assert_eq!(follower.next().await, None);
    }
}
