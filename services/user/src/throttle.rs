//! Brute-force protection for `POST /login`: a sliding window of recent failures per key (the
//! username, and separately the client address). Once a key holds `max_failures` failures
//! within `window`, further attempts are refused until the oldest failure leaves the window.
//!
//! The counts live in this process. With several replicas each keeps its own, so the effective
//! limit is `max_failures × replicas`; a shared store would be needed for an exact global limit.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys tracked at most; beyond it, keys whose failures all expired are dropped first.
const MAX_KEYS: usize = 100_000;

#[derive(Debug)]
pub struct LoginThrottle {
    max_failures: usize,
    window: Duration,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl LoginThrottle {
    pub fn new(max_failures: u32, window: Duration) -> Self {
        Self {
            max_failures: usize::try_from(max_failures).unwrap_or(usize::MAX),
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// How long `key` must wait, if it is locked out now.
    pub fn retry_after(&self, key: &str, now: Instant) -> Option<Duration> {
        let mut failures = self.failures.lock().expect("throttle lock poisoned");
        let entry = failures.get_mut(key)?;
        Self::expire(entry, now, self.window);
        if entry.len() < self.max_failures {
            return None;
        }
        let oldest = *entry.front()?;
        Some(self.window.saturating_sub(now.duration_since(oldest)))
    }

    pub fn record_failure(&self, key: &str, now: Instant) {
        let mut failures = self.failures.lock().expect("throttle lock poisoned");
        if failures.len() >= MAX_KEYS && !failures.contains_key(key) {
            let window = self.window;
            failures.retain(|_, entry| {
                Self::expire(entry, now, window);
                !entry.is_empty()
            });
            if failures.len() >= MAX_KEYS {
                // Still full of live keys: forget an arbitrary one rather than grow unbounded.
                if let Some(victim) = failures.keys().next().cloned() {
                    failures.remove(&victim);
                }
            }
        }
        let entry = failures.entry(key.to_owned()).or_default();
        Self::expire(entry, now, self.window);
        entry.push_back(now);
        while entry.len() > self.max_failures {
            entry.pop_front();
        }
    }

    /// Forgets `key`'s failures (after a successful login with that username).
    pub fn reset(&self, key: &str) {
        self.failures
            .lock()
            .expect("throttle lock poisoned")
            .remove(key);
    }

    fn expire(entry: &mut VecDeque<Instant>, now: Instant, window: Duration) {
        while entry
            .front()
            .is_some_and(|oldest| now.duration_since(*oldest) >= window)
        {
            entry.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_max_failures_until_the_window_passes() {
        let throttle = LoginThrottle::new(3, Duration::from_secs(60));
        let start = Instant::now();
        for second in 0..3 {
            assert!(throttle.retry_after("bob", start).is_none());
            throttle.record_failure("bob", start + Duration::from_secs(second));
        }
        let later = start + Duration::from_secs(10);
        assert_eq!(
            throttle.retry_after("bob", later),
            Some(Duration::from_secs(50))
        );
        assert!(throttle.retry_after("alice", later).is_none());
        assert!(
            throttle
                .retry_after("bob", start + Duration::from_secs(61))
                .is_none()
        );
    }

    #[test]
    fn reset_clears_a_key() {
        let throttle = LoginThrottle::new(1, Duration::from_secs(60));
        let now = Instant::now();
        throttle.record_failure("bob", now);
        assert!(throttle.retry_after("bob", now).is_some());
        throttle.reset("bob");
        assert!(throttle.retry_after("bob", now).is_none());
    }
}
