use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::*;

const INFO: ServiceInfo = ServiceInfo {
    name: "test-service",
    version: "0.0.0",
};

/// A dependency whose state the test sets, counting how often it is asked.
#[derive(Default)]
struct Switch {
    down: AtomicBool,
    calls: AtomicUsize,
}

#[async_trait]
impl DependencyCheck for Switch {
    fn name(&self) -> &'static str {
        "database"
    }

    async fn check(&self) -> Result<(), String> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            Err("password authentication failed for user \"secret-user\" at 10.1.2.3".into())
        } else {
            Ok(())
        }
    }
}

async fn until(what: &str, mut condition: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn requests_are_served_from_the_last_probe_not_a_check_each() {
    let switch = Arc::new(Switch::default());
    let health = Health::new(INFO, vec![switch.clone()]);
    for _ in 0..200 {
        assert_eq!(health.report().await.status, "healthy");
    }
    // 200 answers within well under one probe interval: one or two rounds ran, not 200.
    assert!(switch.calls.load(Ordering::SeqCst) <= 3);
}

#[tokio::test]
async fn a_dependency_going_down_shows_within_about_a_probe_interval() {
    let switch = Arc::new(Switch::default());
    let health = Health::new(INFO, vec![switch.clone()]);
    assert_eq!(health.report().await.status, "healthy");
    let cut = Instant::now();
    switch.down.store(true, Ordering::SeqCst);
    until("the probe to see the dependency down", async || {
        health.report().await.status == "unhealthy"
    })
    .await;
    assert!(cut.elapsed() < prober::PROBE_INTERVAL * 3);
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
    let metrics = crate::metrics::Metrics::new();
    health.register_metrics(&metrics);
    health.report().await;
    until("the gauge", async || {
        metrics
            .encode()
            .contains(r#"health_dependency_up{dependency="database"} 1"#)
    })
    .await;
    drop(health);
    // Only the probe task could still hold the check; it holds the service weakly.
    until("the service to be freed", async || {
        Arc::strong_count(&switch) == 1
    })
    .await;
    let calls = switch.calls.load(Ordering::SeqCst);
    tokio::time::sleep(prober::PROBE_INTERVAL * 2).await;
    assert_eq!(
        switch.calls.load(Ordering::SeqCst),
        calls,
        "probe still running"
    );
}
