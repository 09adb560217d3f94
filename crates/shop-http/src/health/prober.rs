//! The background probe behind `/health` and `/health/ready`.
//!
//! Dependencies are checked on a timer, never per request: a health endpoint that runs live
//! checks turns every anonymous call into a database round trip (a cheap amplification) and its
//! latency into the slowest dependency's. The last round's outcome is kept; error text and
//! latencies go to the logs and to metrics, not to the public answer.

use std::collections::BTreeMap;
use std::sync::Weak;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use std::sync::atomic::AtomicU64;

use super::{DependencyCheck, Health};

/// Time between two probe rounds: also the longest a dependency can be down before
/// `/health/ready` says so (plus [`CHECK_TIMEOUT`] when it hangs rather than refuses).
pub const PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// How long one dependency check may take before it counts as down.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// What one check found, kept in full for logs and metrics.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub required: bool,
    pub latency: Duration,
    pub error: Option<String>,
}

/// One round: every dependency by name.
pub type Round = BTreeMap<&'static str, Outcome>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DependencyLabel {
    pub dependency: &'static str,
}

/// `health_dependency_up` and `health_check_duration_seconds`, by dependency.
#[derive(Debug, Clone, Default)]
pub struct ProbeMetrics {
    pub up: Family<DependencyLabel, Gauge>,
    pub duration: Family<DependencyLabel, Gauge<f64, AtomicU64>>,
}

impl ProbeMetrics {
    pub fn register(&self, metrics: &shop_telemetry::metrics::Metrics) {
        metrics.register(
            "health_dependency_up",
            "1 while the last background probe found the dependency usable",
            self.up.clone(),
        );
        metrics.register(
            "health_check_duration_seconds",
            "How long the last background probe of the dependency took",
            self.duration.clone(),
        );
    }
}

/// Runs every check once, concurrently, each bounded by [`CHECK_TIMEOUT`].
pub async fn probe(checks: &[std::sync::Arc<dyn DependencyCheck>]) -> Round {
    join_all(checks.iter().map(|check| async move {
        let started = Instant::now();
        let error = match tokio::time::timeout(CHECK_TIMEOUT, check.check()).await {
            Ok(Ok(())) => None,
            Ok(Err(error)) => Some(error),
            Err(_) => Some(format!("no answer within {} ms", CHECK_TIMEOUT.as_millis())),
        };
        let outcome = Outcome {
            required: check.required(),
            latency: started.elapsed(),
            error,
        };
        (check.name(), outcome)
    }))
    .await
    .into_iter()
    .collect()
}

/// Logs each dependency that changed state since `previous`, with its error text: the place an
/// operator finds why a dependency is down.
pub fn log_changes(service: &str, previous: Option<&Round>, round: &Round) {
    for (name, outcome) in round {
        let was_up = previous
            .and_then(|previous| previous.get(name))
            .map(|before| before.error.is_none());
        match (&outcome.error, was_up) {
            (Some(error), Some(true) | None) => tracing::warn!(
                service,
                dependency = name,
                required = outcome.required,
                error = %error,
                "dependency down"
            ),
            (None, Some(false)) => {
                tracing::info!(service, dependency = name, "dependency up again");
            }
            _ => {}
        }
    }
}

/// Probes until the [`Health`] it serves is dropped (the service stopped). Holding only a weak
/// reference lets the task end on its own, without a shutdown token of its own.
pub async fn run(health: Weak<Health>) {
    let mut previous: Option<Round> = None;
    let mut ticks = tokio::time::interval(PROBE_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(health) = health.upgrade() else {
            return;
        };
        let round = probe(&health.checks).await;
        log_changes(health.info.name, previous.as_ref(), &round);
        health.publish(&round);
        previous = Some(round);
    }
}
