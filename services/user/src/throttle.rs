//! The in-memory attempt window: a sliding window of recent attempts per key (a username from
//! one client, a client address). Once a key holds its limit of attempts within `window`,
//! further attempts are refused until the oldest leaves the window. Each attempt states every
//! key's limit, so keys of one attempt can have different ones.
//!
//! This is the fallback of [`crate::limiter::AttemptLimiter`] while Redis is unavailable: the
//! counts live in this process, so with several replicas the effective limit is then
//! `limit × replicas`.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys tracked at most; beyond it, keys whose attempts all expired are dropped first.
const MAX_KEYS: usize = 100_000;

#[derive(Debug)]
pub struct LoginThrottle {
    window: Duration,
    attempts: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl LoginThrottle {
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            attempts: Mutex::new(HashMap::new()),
        }
    }

    /// Counts an attempt on every key at once, unless one of them holds its limit (the number
    /// beside it): then nothing is counted and the longest wait is returned. One lock for all
    /// keys, so concurrent attempts cannot all slip under the limit.
    pub fn try_begin(&self, keys: &[(&str, u32)], now: Instant) -> Result<(), Duration> {
        let limit = |max: u32| usize::try_from(max).unwrap_or(usize::MAX);
        let mut attempts = self.attempts.lock().expect("throttle lock poisoned");
        let wait = keys
            .iter()
            .filter_map(|(key, max)| {
                let entry = attempts.get_mut(*key)?;
                Self::expire(entry, now, self.window);
                if entry.len() < limit(*max) {
                    return None;
                }
                let oldest = *entry.front()?;
                Some(self.window.saturating_sub(now.duration_since(oldest)))
            })
            .max();
        if let Some(wait) = wait {
            return Err(wait);
        }
        for (key, max) in keys {
            Self::make_room(&mut attempts, key, now, self.window);
            let entry = attempts.entry((*key).to_owned()).or_default();
            entry.push_back(now);
            while entry.len() > limit(*max) {
                entry.pop_front();
            }
        }
        Ok(())
    }

    /// Counts an attempt the shared limit already allowed, without checking this window: so
    /// that, should Redis fail a moment later, the fallback starts from what this replica has
    /// let through rather than from zero.
    pub fn record(&self, keys: &[(&str, u32)], now: Instant) {
        let limit = |max: u32| usize::try_from(max).unwrap_or(usize::MAX);
        let mut attempts = self.attempts.lock().expect("throttle lock poisoned");
        for (key, max) in keys {
            Self::make_room(&mut attempts, key, now, self.window);
            let entry = attempts.entry((*key).to_owned()).or_default();
            Self::expire(entry, now, self.window);
            entry.push_back(now);
            while entry.len() > limit(*max) {
                entry.pop_front();
            }
        }
    }

    /// Forgets one attempt made at `at` on `key` (a successful login, on its client's key).
    pub fn forget(&self, key: &str, at: Instant) {
        let mut attempts = self.attempts.lock().expect("throttle lock poisoned");
        if let Some(entry) = attempts.get_mut(key)
            && let Some(position) = entry.iter().position(|attempt| *attempt == at)
        {
            entry.remove(position);
        }
    }

    fn make_room(
        failures: &mut HashMap<String, VecDeque<Instant>>,
        key: &str,
        now: Instant,
        window: Duration,
    ) {
        if failures.len() < MAX_KEYS || failures.contains_key(key) {
            return;
        }
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

    /// Forgets `key`'s attempts (after a successful login with that username from that client).
    pub fn reset(&self, key: &str) {
        self.attempts
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
    fn locks_after_max_attempts_until_the_window_passes() {
        let throttle = LoginThrottle::new(Duration::from_secs(60));
        let start = Instant::now();
        for second in 0..3 {
            let at = start + Duration::from_secs(second);
            assert!(throttle.try_begin(&[("bob", 3)], at).is_ok());
        }
        let later = start + Duration::from_secs(10);
        assert_eq!(
            throttle.try_begin(&[("bob", 3)], later),
            Err(Duration::from_secs(50))
        );
        assert!(throttle.try_begin(&[("alice", 3)], later).is_ok());
        assert!(
            throttle
                .try_begin(&[("bob", 3)], start + Duration::from_secs(61))
                .is_ok()
        );
    }

    #[test]
    fn a_locked_key_refuses_the_attempt_on_every_key() {
        let throttle = LoginThrottle::new(Duration::from_secs(60));
        let now = Instant::now();
        throttle.try_begin(&[("user:bob:a", 1)], now).unwrap();
        assert!(
            throttle
                .try_begin(&[("user:bob:a", 1), ("ip:a", 10)], now)
                .is_err()
        );
        // Nothing was counted for the client: it may still try another name.
        assert!(
            throttle
                .try_begin(&[("user:eve:a", 1), ("ip:a", 1)], now)
                .is_ok()
        );
    }

    #[test]
    fn each_key_is_held_to_its_own_limit() {
        let throttle = LoginThrottle::new(Duration::from_secs(60));
        let now = Instant::now();
        for name in ["u1", "u2", "u3"] {
            assert!(throttle.try_begin(&[(name, 1), ("ip:a", 3)], now).is_ok());
        }
        assert!(throttle.try_begin(&[("u4", 1), ("ip:a", 3)], now).is_err());
        assert!(throttle.try_begin(&[("u1", 1), ("ip:b", 3)], now).is_err());
    }

    #[test]
    fn reset_and_forget_clear_attempts() {
        let throttle = LoginThrottle::new(Duration::from_secs(60));
        let now = Instant::now();
        throttle.try_begin(&[("bob", 1), ("ip", 1)], now).unwrap();
        throttle.reset("bob");
        throttle.forget("ip", now);
        assert!(throttle.try_begin(&[("bob", 1), ("ip", 1)], now).is_ok());
    }
}
