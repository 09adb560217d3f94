//! A consumer that handles many deliveries at once while keeping their order per lane.
//!
//! [`consume_ordered`] holds up to `max_in_flight` unacknowledged deliveries. Each lane (the
//! routing key, or what [`OrderedConsumer::lane`] says, e.g. the order an event is about) has
//! its deliveries handled one after the other, in the order the queue gave them; lanes run
//! concurrently. So a slow or failing lane does not stall the others, yet nothing overtakes an
//! earlier message of its own lane.
//!
//! A handler that cannot settle its delivery (returns [`Settlement::Unsettled`], e.g. at
//! shutdown or because the ack could not be sent) leaves it to RabbitMQ to deliver again. The
//! deliveries queued behind it in its lane must not go first, and a single requeue would put it
//! behind those already prefetched; so the consumer stops taking deliveries, lets the other
//! lanes finish what they are doing, and resubscribes on a fresh channel: RabbitMQ then
//! redelivers every unacknowledged message in queue order.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use lapin::message::Delivery;
use prometheus_client::metrics::gauge::Gauge;
use tokio_util::sync::CancellationToken;

use super::AmqpLink;
use super::consumer::{self, Ended, Mode, Next, Subscription};

/// What a handler did with its delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settlement {
    /// Acked, or rejected (dead-lettered): its lane moves on.
    Settled,
    /// Left unacknowledged; RabbitMQ will deliver it again, so its lane stops here.
    Unsettled,
}

/// How [`consume_ordered`] consumes.
#[derive(Debug, Clone)]
pub struct OrderedConsumer {
    pub queue: String,
    pub consumer_tag: String,
    /// Deliveries held (handled or waiting in a lane) at most; set the channel's prefetch
    /// (`basic_qos`) to the same number so the broker never sends more.
    pub max_in_flight: usize,
    /// After shutdown, how long the deliveries in hand may take to finish.
    pub drain: Duration,
    /// Set to the number of deliveries held.
    pub in_flight: Gauge,
    /// The lane a delivery joins; `None` is its routing key. Messages whose relative order
    /// matters must share a lane: two event types of one order have two routing keys.
    pub lane: Option<fn(&Delivery) -> String>,
}

/// Consumes until `shutdown` with per-routing-key order, rebuilding the subscription after any
/// failure. On shutdown the consumer is cancelled and the deliveries in hand get `drain` to
/// finish (their handler should stop retrying once `shutdown` fires).
pub async fn consume_ordered<H, Fut>(
    link: Arc<AmqpLink>,
    consumer: &OrderedConsumer,
    shutdown: CancellationToken,
    handle: H,
) where
    H: Fn(Delivery) -> Fut,
    Fut: Future<Output = Settlement>,
{
    let mut mode = Ordered { consumer, handle };
    let (queue, tag) = (&consumer.queue, &consumer.consumer_tag);
    consumer::run(link, queue, tag, shutdown, &mut mode).await;
}

struct Ordered<'a, H> {
    consumer: &'a OrderedConsumer,
    handle: H,
}

impl<H, Fut> Mode for Ordered<'_, H>
where
    H: Fn(Delivery) -> Fut,
    Fut: Future<Output = Settlement>,
{
    async fn run(&mut self, mut subscription: Subscription, shutdown: &CancellationToken) -> Ended {
        let consumer = self.consumer;
        tracing::info!(queue = %consumer.queue, max_in_flight = consumer.max_in_flight, "consuming in order per lane");
        let ended = run_subscription(&mut subscription, consumer, shutdown, &self.handle).await;
        consumer.in_flight.set(0);
        ended
    }
}

/// Deliveries held per lane: the head of each lane is being handled.
struct Lanes {
    waiting: HashMap<String, VecDeque<Delivery>>,
    held: usize,
}

impl Lanes {
    /// Queues a delivery behind its lane `key`; gives it back, to be started, when its lane
    /// was idle.
    fn admit(&mut self, key: String, delivery: Delivery) -> Option<(String, Delivery)> {
        self.held += 1;
        if let Some(lane) = self.waiting.get_mut(&key) {
            lane.push_back(delivery);
            return None;
        }
        self.waiting.insert(key.clone(), VecDeque::new());
        Some((key, delivery))
    }

    /// The head of `key`'s lane is done. When it settled and consuming goes on, gives the
    /// lane's next delivery to start; otherwise (unsettled, or resubscribing anyway) drops the
    /// lane, whose followers wait for their redelivery.
    fn finish(&mut self, key: &str, go_on: bool) -> Option<Delivery> {
        self.held -= 1;
        match self.waiting.get_mut(key) {
            Some(lane) if go_on => {
                let next = lane.pop_front();
                if next.is_none() {
                    self.waiting.remove(key);
                }
                next
            }
            lane => {
                let dropped = lane.map_or(0, |lane| std::mem::take(lane).len());
                self.held -= dropped;
                self.waiting.remove(key);
                None
            }
        }
    }
}

async fn run_subscription<H, Fut>(
    subscription: &mut Subscription,
    consumer: &OrderedConsumer,
    shutdown: &CancellationToken,
    handle: &H,
) -> Ended
where
    H: Fn(Delivery) -> Fut,
    Fut: Future<Output = Settlement>,
{
    let start = |key: String, delivery: Delivery| {
        let handled = handle(delivery);
        async move { (key, handled.await) }
    };
    let mut running = FuturesUnordered::new();
    let mut lanes = Lanes {
        waiting: HashMap::new(),
        held: 0,
    };
    // A lane stopped on an unsettled delivery: take nothing more, then resubscribe.
    let mut stopping = false;
    let mut drain_deadline = None;
    loop {
        consumer
            .in_flight
            .set(i64::try_from(lanes.held).unwrap_or(i64::MAX));
        if (stopping || drain_deadline.is_some()) && running.is_empty() {
            return if drain_deadline.is_some() {
                Ended::Shutdown
            } else {
                Ended::Resubscribe
            };
        }
        let accepting =
            !stopping && drain_deadline.is_none() && lanes.held < consumer.max_in_flight;
        let deadline =
            drain_deadline.unwrap_or_else(|| tokio::time::Instant::now() + consumer.drain);
        tokio::select! {
            () = shutdown.cancelled(), if drain_deadline.is_none() => {
                subscription.cancel().await;
                drain_deadline = Some(tokio::time::Instant::now() + consumer.drain);
            }
            () = tokio::time::sleep_until(deadline), if drain_deadline.is_some() => {
                tracing::warn!(queue = %consumer.queue, left = lanes.held, "drain deadline passed; RabbitMQ will redeliver the rest");
                return Ended::Shutdown;
            }
            Some((key, settlement)) = running.next(), if !running.is_empty() => {
                // Named, so the select's pattern does not take the `&str` below as its type.
                let key: String = key;
                let go_on = settlement == Settlement::Settled && !stopping;
                if let Some(next) = lanes.finish(&key, go_on) {
                    running.push(start(key, next));
                } else if settlement == Settlement::Unsettled && !stopping {
                    tracing::warn!(queue = %consumer.queue, lane = %key, "a delivery stayed unsettled; resubscribing for its redelivery");
                    stopping = true;
                }
            }
            next = subscription.next(), if accepting => match next {
                Next::Delivery(delivery) => {
                    let key = consumer.lane.map_or_else(
                        || delivery.routing_key.as_str().to_owned(),
                        |lane| lane(&delivery),
                    );
                    if let Some((key, delivery)) = lanes.admit(key, delivery) {
                        running.push(start(key, delivery));
                    }
                }
                Next::Idle => {}
                Next::Lost => return Ended::Resubscribe,
            },
            // While the window is full, still notice a dead channel: what is in hand can no
            // longer be acked and will be redelivered, so handling it further is wasted.
            () = consumer::stall_check(), if !accepting && drain_deadline.is_none() => {
                if !subscription.is_open() {
                    tracing::warn!(queue = %consumer.queue, "consumer channel closed; resubscribing");
                    return Ended::Resubscribe;
                }
            }
        }
    }
}
