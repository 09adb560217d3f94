//! A small circuit breaker for optional dependencies (a cache, say).
//!
//! After `failure_threshold` consecutive failures the circuit *opens*: callers are told to skip
//! the dependency at once, so a dead or stalled server costs nothing per request instead of a
//! timeout per request. After `open_for` one trial call is let through (*half-open*); its success
//! closes the circuit, its failure opens it for another `open_for`. No background task is needed:
//! the state advances as calls ask for permission.
//!
//! Written here rather than taken from a crate: the available ones bring their own future
//! wrappers, clocks and policy types for what is forty lines of state machine.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What the breaker thinks of the dependency now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    Closed,
    Open,
    HalfOpen,
}

#[derive(Debug)]
enum Inner {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// One trial call is out; everyone else is refused until it reports back.
    HalfOpen {
        trial_started: Instant,
    },
}

#[derive(Debug)]
pub struct CircuitBreaker {
    failure_threshold: u32,
    open_for: Duration,
    inner: Mutex<Inner>,
}

impl CircuitBreaker {
    pub fn new(failure_threshold: u32, open_for: Duration) -> Self {
        Self {
            failure_threshold: failure_threshold.max(1),
            open_for,
            inner: Mutex::new(Inner::Closed { failures: 0 }),
        }
    }

    /// Whether a call may go to the dependency now. A `true` must be followed by
    /// [`record_success`](Self::record_success) or [`record_failure`](Self::record_failure).
    pub fn allow(&self) -> bool {
        self.allow_at(Instant::now())
    }

    fn allow_at(&self, now: Instant) -> bool {
        let mut inner = self.lock();
        match *inner {
            Inner::Closed { .. } => true,
            Inner::Open { until } if now >= until => {
                *inner = Inner::HalfOpen { trial_started: now };
                true
            }
            Inner::Open { .. } => false,
            // A trial that never reported (its task was cancelled) must not wedge the circuit.
            Inner::HalfOpen { trial_started } if now >= trial_started + self.open_for => {
                *inner = Inner::HalfOpen { trial_started: now };
                true
            }
            Inner::HalfOpen { .. } => false,
        }
    }

    pub fn record_success(&self) {
        let mut inner = self.lock();
        if !matches!(*inner, Inner::Closed { failures: 0 }) {
            *inner = Inner::Closed { failures: 0 };
        }
    }

    pub fn record_failure(&self) {
        self.record_failure_at(Instant::now());
    }

    fn record_failure_at(&self, now: Instant) {
        let mut inner = self.lock();
        *inner = match *inner {
            Inner::Closed { failures } if failures + 1 < self.failure_threshold => Inner::Closed {
                failures: failures + 1,
            },
            _ => Inner::Open {
                until: now + self.open_for,
            },
        };
    }

    pub fn state(&self) -> CircuitState {
        match *self.lock() {
            Inner::Closed { .. } => CircuitState::Closed,
            Inner::Open { .. } => CircuitState::Open,
            Inner::HalfOpen { .. } => CircuitState::HalfOpen,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The state is valid after any panic (every write is a whole assignment).
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPEN_FOR: Duration = Duration::from_secs(1);

    #[test]
    fn opens_after_consecutive_failures_only() {
        let breaker = CircuitBreaker::new(3, OPEN_FOR);
        breaker.record_failure();
        breaker.record_failure();
        breaker.record_success();
        breaker.record_failure();
        breaker.record_failure();
        assert_eq!(breaker.state(), CircuitState::Closed);
        assert!(breaker.allow());
        breaker.record_failure();
        assert_eq!(breaker.state(), CircuitState::Open);
        assert!(!breaker.allow());
    }

    #[test]
    fn half_open_lets_one_trial_through_and_its_outcome_decides() {
        let breaker = CircuitBreaker::new(1, OPEN_FOR);
        let start = Instant::now();
        breaker.record_failure_at(start);
        assert!(!breaker.allow_at(start + OPEN_FOR / 2));

        let later = start + OPEN_FOR;
        assert!(breaker.allow_at(later), "the trial call");
        assert_eq!(breaker.state(), CircuitState::HalfOpen);
        assert!(!breaker.allow_at(later), "only one trial at a time");
        breaker.record_failure_at(later);
        assert_eq!(breaker.state(), CircuitState::Open);

        let again = later + OPEN_FOR;
        assert!(breaker.allow_at(again));
        breaker.record_success();
        assert_eq!(breaker.state(), CircuitState::Closed);
        assert!(breaker.allow_at(again));
    }

    #[test]
    fn a_lost_trial_does_not_wedge_the_circuit() {
        let breaker = CircuitBreaker::new(1, OPEN_FOR);
        let start = Instant::now();
        breaker.record_failure_at(start);
        assert!(breaker.allow_at(start + OPEN_FOR));
        // The trial never reports; after another period a new trial is allowed.
        assert!(breaker.allow_at(start + OPEN_FOR * 2));
    }
}
