//! How a write makes the replicas that may hold a local copy of a product drop it, and waits
//! only as long as it must.
//!
//! # Who holds a copy
//! A replica keeps a local copy ([`super::local_copy`]) only of a product it read through
//! Redis, and that same Redis read (the script of [`super::entries`]) records the replica as a
//! *holder*: `product:{id}:holders`, a sorted set of replica names scored with Redis's clock at
//! the read. A replica whose Redis read failed keeps no copy. So when a writer's tombstone
//! lands, the replicas that may serve a copy read before it are exactly those in that set with
//! a score younger than the lease δ (and a slack, below); the tombstone script reads them in
//! the same atomic step and publishes an *announcement* to each on its own channel,
//! `product-invalidations:{replica}`. Replicas that hold nothing hear nothing and cost the
//! writer nothing.
//!
//! # The answer
//! A replica that hears an announcement forgets its copy and refuses copies from reads that
//! began before ([`super::LocalCopies::forget`]), then answers on the writer's channel. The
//! write returns once every holder the script reached has answered, or δ after its tombstones
//! landed, whichever comes first. The second bound needs no answer at all: a copy is served
//! only while younger than δ, counted from before its Redis read, and a holder's read came
//! before the tombstone. So a holder that is paused, overloaded, cut off from Redis or without
//! a live subscription (the script's `PUBLISH` reached nobody) costs the write δ, never a stale
//! read; and one that answered holds no copy read before the tombstone, nor will it keep one.
//!
//! The holder sets are in Redis, so a Redis that restarts loses them. Its subscribers'
//! connections close with it, and a replica that loses its subscription forgets all its copies,
//! refuses copies of reads begun before, and keeps none until it is subscribed again. The sets
//! live as long as a cached product, so that `volatile-ttl` evicts cached values before them.
//!
//! A holder's score is a wall clock (Redis's): a replica is still asked [`CLOCK_SLACK`] past δ,
//! so that a clock step forward cannot hide a holder whose copy is still served. All replicas
//! of a deployment must use the same δ (`PRODUCT_LOCAL_COPY_MS`): a writer counts its lease,
//! and which holders are recent, with its own.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use shop_redis::{Redis, Subscription};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::local_copy::LocalCopies;
use crate::metrics::ProductMetrics;

/// How long past δ a replica is still asked to drop a copy (see the module documentation).
pub const CLOCK_SLACK: Duration = Duration::from_secs(1);

const DROP: &str = "drop";
const DROPPED: &str = "dropped";

/// Why a write waited as long as it did, counted in `product_cache_write_waits_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteWait {
    /// No other replica had read the products within δ: no wait.
    NoHolder,
    /// Every replica that had read them dropped its copy and said so.
    Acked,
    /// A replica that had read them did not answer (or could not be told): δ.
    Lease,
    /// A tombstone or the page increment did not reach Redis: the freshness lease and δ.
    Freshness,
}

impl WriteWait {
    pub fn label(self) -> &'static str {
        match self {
            Self::NoHolder => "no_holder",
            Self::Acked => "acked",
            Self::Lease => "lease",
            Self::Freshness => "freshness",
        }
    }
}

/// What the tombstone script needs to tell the holders of one product.
#[derive(Debug)]
pub struct Announce<'a> {
    /// How far back (milliseconds of Redis's clock) a holder's read still counts.
    pub window_ms: u64,
    /// The writer, which the script does not announce to (it forgets its own copies itself).
    pub writer: &'a str,
    /// A holder's channel is this followed by its name.
    pub channel_prefix: &'a str,
    pub message: String,
}

/// The holders one tombstone script told, and how many it could not reach.
#[derive(Debug, Default)]
pub struct Told {
    pub reached: Vec<String>,
    pub unreached: usize,
}

/// The answers one write has received: (holder, product id).
#[derive(Debug, Default)]
struct Answers {
    from: Mutex<HashSet<(String, i64)>>,
    arrived: Notify,
}

/// One write's place among the answers awaited; leaving it removes it.
#[derive(Debug)]
pub struct PendingWrite<'a> {
    token: u64,
    answers: Arc<Answers>,
    owner: &'a Announcements,
}

impl Drop for PendingWrite<'_> {
    fn drop(&mut self) {
        self.owner
            .waiting
            .lock()
            .expect("announcements lock")
            .remove(&self.token);
    }
}

#[derive(Debug)]
pub struct Announcements {
    redis: Redis,
    /// This process's name among the replicas: new at every start.
    replica: String,
    /// `{CACHE_KEY_PREFIX}product-invalidations:`; each replica listens on this and its name.
    channel_prefix: String,
    lease: Duration,
    /// Whether this replica's subscription is established. Until it is (and after it is known
    /// lost), reads keep no copies, so that writes do not wait for a replica that cannot hear
    /// them. Safety does not rest on it: a lost subscription is noticed late, and a holder that
    /// is told nothing costs its writer the lease.
    listening: AtomicBool,
    next_write: AtomicU64,
    waiting: Mutex<HashMap<u64, Arc<Answers>>>,
    metrics: ProductMetrics,
}

impl Announcements {
    pub fn new(redis: Redis, key_prefix: &str, lease: Duration, metrics: ProductMetrics) -> Self {
        Self {
            redis,
            replica: uuid::Uuid::new_v4().simple().to_string(),
            channel_prefix: format!("{key_prefix}product-invalidations:"),
            lease,
            listening: AtomicBool::new(false),
            next_write: AtomicU64::new(0),
            waiting: Mutex::default(),
            metrics,
        }
    }

    /// This replica's name, as the holder sets and channels know it.
    pub fn replica(&self) -> &str {
        &self.replica
    }

    /// Whether this replica hears its channel, as far as it knows.
    pub fn listening(&self) -> bool {
        self.listening.load(Ordering::Acquire)
    }

    /// The channel this replica hears announcements and answers on.
    pub fn channel(&self) -> String {
        format!("{}{}", self.channel_prefix, self.replica)
    }

    /// How far back a holder's read counts, in milliseconds; 0 with local copies off.
    pub fn window_ms(&self) -> u64 {
        if self.lease.is_zero() {
            return 0;
        }
        u64::try_from((self.lease + CLOCK_SLACK).as_millis()).unwrap_or(u64::MAX)
    }

    /// Starts a write: answers to it are collected from now on, since a holder may answer
    /// before the writer hears back from its own tombstone script.
    pub fn begin(&self) -> PendingWrite<'_> {
        let token = self.next_write.fetch_add(1, Ordering::Relaxed);
        let answers = Arc::new(Answers::default());
        self.waiting
            .lock()
            .expect("announcements lock")
            .insert(token, answers.clone());
        PendingWrite {
            token,
            answers,
            owner: self,
        }
    }

    /// What the tombstone script of product `id` announces for `write`.
    pub fn announce(&self, write: &PendingWrite<'_>, id: i64) -> Announce<'_> {
        Announce {
            window_ms: self.window_ms(),
            writer: &self.replica,
            channel_prefix: &self.channel_prefix,
            message: format!("{DROP}|{}|{}|{id}", write.token, self.replica),
        }
    }

    /// Waits until every holder in `told` (per product id) has answered `write`, or until
    /// `deadline` (δ after the tombstones landed); says which came first.
    pub async fn wait(
        &self,
        write: PendingWrite<'_>,
        told: Vec<(i64, Told)>,
        deadline: Instant,
    ) -> WriteWait {
        let mut awaited = HashSet::new();
        for (id, told) in told {
            if told.unreached > 0 {
                // Someone holds a copy and cannot be told: only the lease covers it.
                tokio::time::sleep_until(deadline).await;
                return self.waited(WriteWait::Lease);
            }
            awaited.extend(told.reached.into_iter().map(|holder| (holder, id)));
        }
        if awaited.is_empty() {
            return self.waited(WriteWait::NoHolder);
        }
        loop {
            let arrived = write.answers.arrived.notified();
            tokio::pin!(arrived);
            // Registered before looking, so an answer in between still wakes this write.
            arrived.as_mut().enable();
            {
                let from = write.answers.from.lock().expect("answers lock");
                if awaited.iter().all(|holder| from.contains(holder)) {
                    break;
                }
            }
            tokio::select! {
                () = &mut arrived => {}
                () = tokio::time::sleep_until(deadline) => return self.waited(WriteWait::Lease),
            }
        }
        self.waited(WriteWait::Acked)
    }

    /// Counts a write's wait by its reason.
    pub fn waited(&self, reason: WriteWait) -> WriteWait {
        self.metrics.write_waited(reason.label());
        reason
    }

    /// Hears this replica's channel until `stop`: drops the copies writers announce and
    /// answers them, and hands answers to the writes awaiting them.
    pub async fn follow(&self, local: &LocalCopies, stop: CancellationToken) {
        if self.lease.is_zero() {
            return;
        }
        self.redis
            .follow_reporting(&self.channel(), stop, |event| match event {
                Subscription::Live => self.listening.store(true, Ordering::Release),
                Subscription::Lost => {
                    self.listening.store(false, Ordering::Release);
                    // The subscription may have died with Redis, and the holder sets with it: a
                    // write that finds no holder must find no copy here either.
                    local.forget_everything();
                }
                Subscription::Message(message) => self.heard(local, &message),
            })
            .await;
        self.listening.store(false, Ordering::Release);
    }

    fn heard(&self, local: &LocalCopies, message: &str) {
        let mut parts = message.splitn(4, '|');
        let (Some(kind), Some(token), Some(replica), Some(id)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            tracing::warn!(message, "unreadable product invalidation");
            return;
        };
        let (Ok(token), Ok(id)) = (token.parse::<u64>(), id.parse::<i64>()) else {
            tracing::warn!(message, "unreadable product invalidation");
            return;
        };
        match kind {
            DROP => {
                local.forget(id);
                // Answered from a task of its own: the subscription keeps reading meanwhile.
                let redis = self.redis.clone();
                let channel = format!("{}{replica}", self.channel_prefix);
                let answer = format!("{DROPPED}|{token}|{}|{id}", self.replica);
                tokio::spawn(async move {
                    let published = redis
                        .query::<i64>(redis::cmd("PUBLISH").arg(channel).arg(answer))
                        .await;
                    if let Err(error) = published {
                        // The writer waits out its lease instead.
                        tracing::debug!(%error, "product invalidation not answered");
                    }
                });
            }
            DROPPED => {
                let answers = self
                    .waiting
                    .lock()
                    .expect("announcements lock")
                    .get(&token)
                    .cloned();
                // None: the write returned already (its lease ran out).
                if let Some(answers) = answers {
                    answers
                        .from
                        .lock()
                        .expect("answers lock")
                        .insert((replica.to_owned(), id));
                    answers.arrived.notify_waiters();
                }
            }
            _ => tracing::warn!(message, "unknown product invalidation"),
        }
    }
}
