//! Remembers which (event, channel) pairs this replica has notified, so that a redelivered or
//! republished event does not notify twice.
//!
//! The memory is per process and bounded: an entry lives for the window, and past the
//! capacity the oldest go first. Two consequences, both documented in the README: a duplicate
//! that reaches *another* replica (say the first one crashed after sending but before its ack)
//! is notified again, and so is one arriving after the window or after a restart. Receivers that
//! need exactly-once use the event id the webhook and email carry. A shared store (Redis
//! `SET NX EX`) would close the gap across replicas; the spec keeps this service stateless.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Dedup {
    window: Duration,
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// `None` while a handler is sending, then when it was delivered.
    entries: HashMap<String, Option<Instant>>,
    /// Delivered keys, oldest first, for expiry and the capacity bound.
    delivered: VecDeque<(String, Instant)>,
}

impl Dedup {
    pub fn new(window: Duration, capacity: usize) -> Self {
        Self {
            window,
            capacity: capacity.max(1),
            inner: Mutex::default(),
        }
    }

    /// Claims `key` for sending. False when it was delivered within the window or another
    /// handler of this replica is sending it right now: either way this copy must not send.
    pub fn claim(&self, key: &str) -> bool {
        let mut inner = self.lock();
        self.evict(&mut inner, Instant::now());
        if inner.entries.contains_key(key) {
            return false;
        }
        inner.entries.insert(key.to_owned(), None);
        true
    }

    /// The claimed `key` was delivered: duplicates are refused for the window from now.
    pub fn delivered(&self, key: &str) {
        let now = Instant::now();
        let mut inner = self.lock();
        inner.entries.insert(key.to_owned(), Some(now));
        inner.delivered.push_back((key.to_owned(), now));
        self.evict(&mut inner, now);
    }

    /// The claimed `key` was not delivered: a later copy may try again.
    pub fn release(&self, key: &str) {
        let mut inner = self.lock();
        if inner.entries.get(key) == Some(&None) {
            inner.entries.remove(key);
        }
    }

    /// Delivered keys remembered now.
    pub fn len(&self) -> usize {
        self.lock().delivered.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn evict(&self, inner: &mut Inner, now: Instant) {
        while let Some((key, at)) = inner.delivered.front() {
            let expired = now.duration_since(*at) >= self.window;
            if !expired && inner.delivered.len() <= self.capacity {
                break;
            }
            // A key delivered again later has a newer entry; only the matching one goes.
            if inner.entries.get(key) == Some(&Some(*at)) {
                inner.entries.remove(key);
            }
            inner.delivered.pop_front();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The guarded maps stay consistent even if a holder panicked mid-way.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delivered_key_is_refused_within_the_window() {
        let dedup = Dedup::new(Duration::from_secs(60), 10);
        assert!(dedup.claim("e1/log"));
        dedup.delivered("e1/log");
        assert!(!dedup.claim("e1/log"));
        assert!(dedup.claim("e1/email"), "other channels are separate");
    }

    #[test]
    fn a_key_in_flight_is_refused_and_a_failed_one_released() {
        let dedup = Dedup::new(Duration::from_secs(60), 10);
        assert!(dedup.claim("e1/log"));
        assert!(!dedup.claim("e1/log"), "a second copy while sending");
        dedup.release("e1/log");
        assert!(dedup.claim("e1/log"), "a retry after a failure");
    }

    #[test]
    fn entries_expire_after_the_window() {
        let dedup = Dedup::new(Duration::ZERO, 10);
        assert!(dedup.claim("e1/log"));
        dedup.delivered("e1/log");
        assert!(dedup.claim("e1/log"));
    }

    #[test]
    fn the_oldest_go_past_the_capacity() {
        let dedup = Dedup::new(Duration::from_secs(60), 2);
        for key in ["a", "b", "c"] {
            assert!(dedup.claim(key));
            dedup.delivered(key);
        }
        assert_eq!(dedup.len(), 2);
        assert!(dedup.claim("a"), "forgotten");
        assert!(!dedup.claim("c"), "remembered");
    }
}
