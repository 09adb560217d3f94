use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::*;

const INFO: ServiceInfo = ServiceInfo {
    name: "test-service",
    version: "0.0.0",
    description: "",
};

/// A dependency whose state the test sets, counting how often it is asked. From call
/// `hold_from` on, a check waits for `release` (or the probe's check timeout).
struct Switch {
    down: AtomicBool,
    calls: AtomicUsize,
    hold_from: AtomicUsize,
    release: Notify,
}

impl Default for Switch {
    fn default() -> Self {
        Self {
            down: AtomicBool::default(),
            calls: AtomicUsize::default(),
            hold_from: AtomicUsize::new(usize::MAX),
            release: Notify::new(),
        }
    }
}

#[async_trait]
impl DependencyCheck for Switch {
    fn name(&self) -> &'static str {
        "database"
    }

    async fn check(&self) -> Result<(), String> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if call >= self.hold_from.load(Ordering::SeqCst) {
            self.release.notified().await;
        }
        if self.down.load(Ordering::SeqCst) {
            Err("password authentication failed for user \"secret-user\" at 10.1.2.3".into())
        } else {
            Ok(())
        }
    }
}

/// Polls `condition`; the deadline only guards against a hang.
async fn until(what: &str, mut condition: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !condition().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn requests_are_served_from_the_last_probe_not_a_check_each() {
    let switch = Arc::new(Switch::default());
    let health = Health::new(INFO, vec![switch.clone()]);
    assert_eq!(health.report().await.status, "healthy");
    let (calls_before, started) = (switch.calls.load(Ordering::SeqCst), Instant::now());
    for _ in 0..200 {
        assert_eq!(health.report().await.status, "healthy");
    }
    // Rounds start at most once a probe interval, however slow the machine made these 200
    // answers; a check per request would have made 200 calls.
    let calls = switch.calls.load(Ordering::SeqCst) - calls_before;
    let rounds_at_most = started
        .elapsed()
        .div_duration_f64(prober::PROBE_INTERVAL)
        .floor()
        + 1.0;
    assert!(
        calls as f64 <= rounds_at_most,
        "{calls} checks for 200 answers, at most {rounds_at_most} probe rounds"
    );
}

#[tokio::test]
async fn a_dependency_going_down_shows_within_about_a_probe_interval() {
    let switch = Arc::new(Switch::default());
    let health = Health::new(INFO, vec![switch.clone()]);
    assert_eq!(health.report().await.status, "healthy");
    switch.down.store(true, Ordering::SeqCst);
    // Counted in probe rounds, not seconds. Every check counted from here on starts after the
    // switch, and so sees it down: the next round's outcome must be the report as soon as the
    // round after it begins. That one is held in its check, so it cannot stand in for it.
    let seen = switch.calls.load(Ordering::SeqCst);
    switch.hold_from.store(seen + 2, Ordering::SeqCst);
    until("the second probe round after the switch", async || {
        switch.calls.load(Ordering::SeqCst) >= seen + 2
    })
    .await;
    assert_eq!(health.report().await.status, "unhealthy");
    switch.hold_from.store(usize::MAX, Ordering::SeqCst);
    switch.release.notify_waiters();
    switch.down.store(false, Ordering::SeqCst);
    until("the probe to see it back", async || {
        health.report().await.status == "healthy"
    })
    .await;
}

#[tokio::test]
async fn the_public_report_says_up_or_down_and_never_the_error() {
    let switch = Arc::new(Switch::default());
    switch.down.store(true, Ordering::SeqCst);
    let health = Health::new(INFO, vec![switch]);
    let text = serde_json::to_string(&*health.report().await).unwrap();
    assert_eq!(
        text,
        r#"{"status":"unhealthy","service":"test-service","version":"0.0.0","dependencies":{"database":{"status":"down","required":true}}}"#
    );
}

#[tokio::test]
async fn the_probe_feeds_the_metrics_and_stops_with_the_service() {
    let switch = Arc::new(Switch::default());
    let health = Health::new(INFO, vec![switch.clone()]);
    let metrics = shop_telemetry::metrics::Metrics::new();
    health.register_metrics(&metrics);
    health.report().await;
    until("the gauge", async || {
        metrics
            .encode()
            .contains(r#"health_dependency_up{dependency="database"} 1"#)
    })
    .await;
    drop(health);
    // Only the probe task could still hold the check; it holds the service weakly. Once the
    // test's is the last reference, nothing can call the check again: no need to watch the
    // clock for a call that cannot come.
    until("the service to be freed", async || {
        Arc::strong_count(&switch) == 1
    })
    .await;
}
