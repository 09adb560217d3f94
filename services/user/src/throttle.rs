//! The in-memory attempt window: a sliding window of recent attempts per key (a username, a
//! client address). Once a key holds `max_attempts` attempts within `window`, further attempts
//! are refused until the oldest leaves the window.
//!
//! This is the fallback of [`crate::limiter::AttemptLimiter`] while Redis is unavailable: the
//! counts live in this process, so with several replicas the effective limit is then
//! `max_attempts × replicas`.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys tracked at most; beyond it, keys whose attempts all expired are dropped first.
const MAX_KEYS: usize = 100_000;

#[derive(Debug)]
pub struct LoginThrottle {
    max_attempts: usize,
    window: Duration,
    attempts: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl LoginThrottle {
    pub fn new(max_attempts: u32, window: Duration) -> Self {
        Self {
            max_attempts: usize::try_from(max_attempts).unwrap_or(usize::MAX),
            window,
            attempts: Mutex::new(HashMap::new()),
        }
    }

    /// Counts an attempt on every key at once, unless one of them is locked out: then nothing is
    /// counted and the longest wait is returned. One lock for all keys, so concurrent attempts
    /// cannot all slip under the limit.
    pub fn try_begin(&self, keys: &[&str], now: Instant) -> Result<(), Duration> {
        let mut attempts = self.attempts.lock().expect("throttle lock poisoned");
        let wait = keys
            .iter()
            .filter_map(|key| {
                let entry = attempts.get_mut(*key)?;
                Self::expire(entry, now, self.window);
                if entry.len() < self.max_attempts {
                    return None;
                }
                let oldest = *entry.front()?;
                Some(self.window.saturating_sub(now.duration_since(oldest)))
            })
            .max();
        if let Some(wait) = wait {
            return Err(wait);
        }
        for key in keys {
            Self::make_room(&mut attempts, key, now, self.window);
            let entry = attempts.entry((*key).to_owned()).or_default();
            entry.push_back(now);
            while entry.len() > self.max_attempts {
                entry.pop_front();
            }
        }
        Ok(())
    }

    /// Forgets one attempt made at `at` on `key` (a successful login, from that client).
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

    /// Forgets `key`'s attempts (after a successful login with that username).
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
        let throttle = LoginThrottle::new(3, Duration::from_secs(60));
        let start = Instant::now();
        for second in 0..3 {
            let at = start + Duration::from_secs(second);
            assert!(throttle.try_begin(&["bob"], at).is_ok());
        }
        let later = start + Duration::from_secs(10);
        assert_eq!(
            throttle.try_begin(&["bob"], later),
            Err(Duration::from_secs(50))
        );
        assert!(throttle.try_begin(&["alice"], later).is_ok());
        assert!(
            throttle
                .try_begin(&["bob"], start + Duration::from_secs(61))
                .is_ok()
        );
    }

    #[test]
    fn a_locked_key_refuses_the_attempt_on_every_key() {
        let throttle = LoginThrottle::new(1, Duration::from_secs(60));
        let now = Instant::now();
        throttle.try_begin(&["user:bob"], now).unwrap();
        assert!(throttle.try_begin(&["user:bob", "ip:a"], now).is_err());
        // Nothing was counted for the client: it may still try another name.
        assert!(throttle.try_begin(&["user:eve", "ip:a"], now).is_ok());
    }

    #[test]
    fn reset_and_forget_clear_attempts() {
        let throttle = LoginThrottle::new(1, Duration::from_secs(60));
        let now = Instant::now();
        throttle.try_begin(&["bob", "ip"], now).unwrap();
        throttle.reset("bob");
        throttle.forget("ip", now);
        assert!(throttle.try_begin(&["bob", "ip"], now).is_ok());
    }
}
