//! bcrypt hashing off the async workers.
//!
//! A hash costs tens to hundreds of milliseconds of CPU. Running it on a Tokio worker would
//! stall every other request on that worker, so hashes run on a small pool of dedicated threads
//! (`BCRYPT_MAX_CONCURRENCY` of them, one per core by default) fed through a queue: a login
//! storm waits there, asynchronously, instead of oversubscribing the cores. The threads run at
//! a lowered scheduling priority (nice 4), so the cores they keep busy are still handed to the Tokio
//! workers at once when a cheap request (a health check, a token validation) arrives.
//!
//! The queue is bounded (`BCRYPT_QUEUE_CAPACITY` waiting jobs): past that, [`HashError::Busy`]
//! becomes a 503 with `Retry-After` at once, instead of a queue that grows with a storm and
//! answers everyone late. A job whose caller has gone (the client disconnected and its request
//! was dropped) is skipped when its turn comes: nobody would read the result.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use shop_telemetry::metrics::Metrics;
use tokio::sync::oneshot;

use crate::domain::Password;

/// A password check's work factor, as its hash announces it.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CostLabels {
    cost: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("password hashing failed")]
    Bcrypt(#[from] bcrypt::BcryptError),
    #[error("password hashing workers are gone")]
    Workers,
    #[error("password hashing queue is full")]
    Busy,
}

type Job = Box<dyn FnOnce() + Send>;

#[derive(Debug, Clone)]
pub struct PasswordHasher {
    cost: u32,
    jobs: mpsc::Sender<Job>,
    /// Jobs sent and not yet started; at most `capacity`.
    queued: Arc<AtomicUsize>,
    capacity: usize,
    /// A hash carrying the configured cost: checking an unknown user's password against it costs
    /// as much as a real check, so response time does not reveal whether a username exists.
    dummy_hash: Arc<str>,
    /// bcrypt checks run to the end, by the cost they paid: an unknown user's check counts at
    /// the configured cost like any other, and a cost below it shows hashes made before the
    /// cost was raised.
    checks: Family<CostLabels, Counter>,
}

impl PasswordHasher {
    /// `capacity` jobs may wait for the `workers` threads; more are refused with
    /// [`HashError::Busy`].
    pub async fn new(cost: u32, workers: usize, capacity: usize) -> Result<Self, HashError> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for index in 0..workers.max(1) {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("bcrypt-{index}"))
                .spawn(move || {
                    // Nice 4: a waking Tokio worker preempts a hash at once, yet hashes are not
                    // starved by other busy processes the way nice 19 would starve them.
                    // Best effort: without the right to lower priority the work still runs.
                    let _ = thread_priority::ThreadPriorityValue::try_from(36_u8).map(|value| {
                        thread_priority::set_current_thread_priority(
                            thread_priority::ThreadPriority::Crossplatform(value),
                        )
                    });
                    loop {
                        let job = match queue.lock() {
                            Ok(queue) => queue.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            // Every sender dropped: the service is gone.
                            Err(_) => return,
                        }
                    }
                })
                .map_err(|_| HashError::Workers)?;
        }
        Ok(Self {
            cost,
            jobs,
            queued: Arc::new(AtomicUsize::new(0)),
            capacity: capacity.max(1),
            dummy_hash: dummy_hash(cost)?.into(),
            checks: Family::default(),
        })
    }

    pub fn register_metrics(&self, metrics: &Metrics) {
        metrics.register(
            "user_password_checks",
            "bcrypt password checks completed, by the work factor of the hash checked",
            self.checks.clone(),
        );
    }

    /// Runs `work` on a hashing thread and waits for its result without blocking the caller's
    /// worker. Refused at once when the queue is full; skipped if the caller is gone by the
    /// time a thread takes it.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        if self.queued.fetch_add(1, Ordering::AcqRel) >= self.capacity {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(HashError::Busy);
        }
        let (done, result) = oneshot::channel();
        let queued = self.queued.clone();
        let job: Job = Box::new(move || {
            queued.fetch_sub(1, Ordering::AcqRel);
            if done.is_closed() {
                return;
            }
            let _ = done.send(work());
        });
        if self.jobs.send(job).is_err() {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(HashError::Workers);
        }
        result.await.map_err(|_| HashError::Workers)
    }

    pub async fn hash(&self, password: &Password) -> Result<String, HashError> {
        let password = password.expose().to_owned();
        let cost = self.cost;
        Ok(self.run(move || bcrypt::hash(password, cost)).await??)
    }

    /// Checks `password` against `hash`; with no hash (unknown user) checks against the dummy
    /// hash and returns false, taking the same time.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool, HashError> {
        let password = password.to_owned();
        let known = hash.is_some();
        let hash = hash.map_or_else(|| self.dummy_hash.to_string(), str::to_owned);
        let checks = self.checks.clone();
        let matches = self
            .run(move || {
                let matches = bcrypt::verify(password, &hash)?;
                if let Some(cost) = announced_cost(&hash) {
                    checks.get_or_create(&CostLabels { cost }).inc();
                }
                Ok::<_, bcrypt::BcryptError>(matches)
            })
            .await??;
        Ok(known && matches)
    }
}

/// The cost field of a "$2b$NN$…" hash.
fn announced_cost(hash: &str) -> Option<u32> {
    hash.get(4..6)?.parse().ok()
}

/// A well-formed bcrypt hash that announces `cost` without costing it to make: a cheap cost-4
/// hash of a random password with its cost field rewritten. Verifying against it runs the full
/// `cost` rounds (the work depends on the cost field and salt, not on how the hash was made)
/// and never matches. Start-up thus spends no real hash on it.
fn dummy_hash(cost: u32) -> Result<String, HashError> {
    let cheap = bcrypt::hash(uuid::Uuid::new_v4().to_string(), 4)?;
    // "$2b$04$<salt><digest>": the cost is the two digits after the second '$'.
    Ok(format!("{}{cost:02}{}", &cheap[..4], &cheap[6..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_then_verify() {
        let hasher = PasswordHasher::new(4, 2, 8).await.unwrap();
        let password = Password::parse("correct horse").unwrap();
        let hash = hasher.hash(&password).await.unwrap();
        assert!(hash.starts_with("$2b$04$"));
        assert!(hasher.verify("correct horse", Some(&hash)).await.unwrap());
        assert!(!hasher.verify("wrong horse!", Some(&hash)).await.unwrap());
    }

    #[test]
    fn the_dummy_hash_carries_the_configured_cost() {
        let dummy = dummy_hash(12).unwrap();
        assert!(dummy.starts_with("$2b$12$"), "{dummy}");
        assert_eq!(dummy.len(), 60);
        assert_eq!(announced_cost(&dummy), Some(12));
    }

    #[tokio::test]
    async fn unknown_user_never_verifies_even_with_the_dummy_password() {
        let hasher = PasswordHasher::new(4, 1, 8).await.unwrap();
        assert!(!hasher.verify("anything-at-all", None).await.unwrap());
    }

    /// Polls `check` until it holds; the deadline only guards against a hang.
    async fn poll_until(check: impl Fn() -> bool) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !check() {
            assert!(
                std::time::Instant::now() < deadline,
                "condition not reached"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    /// Occupies the only worker until the returned sender fires.
    async fn block_the_worker(hasher: &PasswordHasher) -> std::sync::mpsc::Sender<()> {
        let (release, blocked) = std::sync::mpsc::channel::<()>();
        let (started, running) = oneshot::channel();
        let blocker = hasher.clone();
        tokio::spawn(async move {
            blocker
                .run(move || {
                    let _ = started.send(());
                    let _ = blocked.recv();
                })
                .await
        });
        running.await.unwrap();
        release
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once() {
        let hasher = PasswordHasher::new(4, 1, 1).await.unwrap();
        let release = block_the_worker(&hasher).await;
        let waiting = tokio::spawn({
            let hasher = hasher.clone();
            async move { hasher.run(|| 1).await }
        });
        poll_until(|| hasher.queued.load(Ordering::Acquire) == 1).await;
        assert!(matches!(hasher.run(|| 2).await, Err(HashError::Busy)));
        release.send(()).unwrap();
        assert_eq!(waiting.await.unwrap().unwrap(), 1);
    }

    #[tokio::test]
    async fn a_job_whose_caller_left_is_skipped() {
        let hasher = PasswordHasher::new(4, 1, 4).await.unwrap();
        let release = block_the_worker(&hasher).await;
        let ran = Arc::new(AtomicUsize::new(0));
        let abandoned = {
            let ran = ran.clone();
            hasher.run(move || ran.fetch_add(1, Ordering::AcqRel))
        };
        // The caller gives up (a client that disconnected drops its request's future).
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(50), abandoned)
                .await
                .is_err()
        );
        release.send(()).unwrap();
        // A job queued after the abandoned one has run, so the abandoned one had its turn.
        assert_eq!(hasher.run(|| 7).await.unwrap(), 7);
        assert_eq!(
            ran.load(Ordering::Acquire),
            0,
            "the abandoned job was hashed"
        );
    }
}
