//! The queues of this service and the retry policy that moves a message between them: named
//! after the configured work queue, with one delay queue per distinct delay. [`crate::config`]
//! builds these from settings; [`crate::topology`] declares them.

use std::collections::BTreeSet;
use std::time::Duration;

/// The names of the exchange and queues, all derived from the configured work queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueNames {
    pub exchange: String,
    pub queue: String,
    pub dead_letters: String,
}

impl QueueNames {
    pub fn new(exchange: &str, queue: &str) -> Self {
        Self {
            exchange: exchange.to_owned(),
            queue: queue.to_owned(),
            dead_letters: format!("{queue}.dead"),
        }
    }

    /// The queue where messages wait `delay` before returning to the work queue.
    pub fn delay_queue(&self, delay: Duration) -> String {
        format!("{}.delay.{}ms", self.queue, delay.as_millis())
    }
}

/// Bounded attempts with exponential backoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Sends of one event, the first included.
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl RetryPolicy {
    /// The wait after attempt `failed_attempt` (1-based) failed: base × 2^(attempt − 1), capped.
    pub fn delay_after(&self, failed_attempt: u32) -> Duration {
        let doublings = failed_attempt.saturating_sub(1).min(31);
        self.base_delay
            .saturating_mul(1 << doublings)
            .min(self.max_delay)
    }

    /// Whether another attempt follows attempt `attempt`.
    pub fn allows_retry_after(&self, attempt: u32) -> bool {
        attempt < self.max_attempts
    }

    /// Every distinct delay the policy uses: one delay queue each.
    pub fn delays(&self) -> BTreeSet<Duration> {
        (1..self.max_attempts)
            .map(|attempt| self.delay_after(attempt))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(max_attempts: u32) -> RetryPolicy {
        RetryPolicy {
            max_attempts,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(5),
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let delays: Vec<u64> = (1..=5)
            .map(|attempt| policy(6).delay_after(attempt).as_secs())
            .collect();
        assert_eq!(delays, [1, 2, 4, 5, 5]);
        assert_eq!(policy(6).delay_after(200), Duration::from_secs(5));
    }

    #[test]
    fn one_delay_queue_per_distinct_delay() {
        let delays: Vec<u64> = policy(6).delays().iter().map(Duration::as_secs).collect();
        assert_eq!(delays, [1, 2, 4, 5]);
        assert!(policy(1).delays().is_empty(), "one attempt needs no delay");
    }

    #[test]
    fn attempts_are_bounded() {
        assert!(policy(3).allows_retry_after(2));
        assert!(!policy(3).allows_retry_after(3));
    }

    #[test]
    fn names_derive_from_the_work_queue() {
        let names = QueueNames::new("order_events", "order_notifications");
        assert_eq!(names.dead_letters, "order_notifications.dead");
        assert_eq!(
            names.delay_queue(Duration::from_millis(1500)),
            "order_notifications.delay.1500ms"
        );
    }
}
