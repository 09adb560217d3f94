//! Health endpoints.
//!
//! - `GET /health`: service, version and each dependency's `up`/`down`, as the background
//!   [`prober`] last found them. 200 while every *required* dependency is up (an optional one
//!   such as a cache may be down: "degraded"), otherwise 503. It never runs a check itself and
//!   never shows error text: why a dependency is down is in the logs, and latencies are in the
//!   `health_*` metrics.
//! - `GET /health/live`: the process is serving; never touches a dependency.
//! - `GET /health/ready`: 200 only while required dependencies are up (same probe, so a
//!   dependency going down flips it within about a second) and the service is not draining.
//!   From outside, a draining replica's probe is refused outright: the listening socket closes
//!   as draining begins (see [`crate::server::serve`]).
//!
//! [`probe`] asks a running instance from the command line (`<binary> healthcheck`).

pub mod probe;
pub mod prober;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use salvo::http::StatusCode;
use salvo::oapi::ToSchema;
use salvo::prelude::*;
use serde::Serialize;
use tokio::sync::watch;

use prober::{DependencyLabel, ProbeMetrics, Round};
use shop_config::ServiceInfo;
pub use shop_telemetry::DependencyCheck;

/// One dependency as the public report shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DependencyStatus {
    /// `up` or `down`.
    pub status: &'static str,
    pub required: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HealthReport {
    /// `healthy`, `degraded` (an optional dependency is down) or `unhealthy`.
    pub status: &'static str,
    pub service: &'static str,
    pub version: &'static str,
    pub dependencies: BTreeMap<&'static str, DependencyStatus>,
}

/// The set of checks behind the health endpoints and the last thing they found.
pub struct Health {
    info: ServiceInfo,
    checks: Vec<Arc<dyn DependencyCheck>>,
    draining: AtomicBool,
    latest: watch::Sender<Option<Arc<HealthReport>>>,
    metrics: ProbeMetrics,
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Health")
            .field("info", &self.info)
            .field("checks", &self.checks.len())
            .finish_non_exhaustive()
    }
}

impl Health {
    /// The checks of a service. Inside a Tokio runtime this starts the background probe, which
    /// runs until the returned value is dropped.
    pub fn new(info: ServiceInfo, checks: Vec<Arc<dyn DependencyCheck>>) -> Arc<Self> {
        let health = Arc::new(Self {
            info,
            checks,
            draining: AtomicBool::new(false),
            latest: watch::Sender::new(None),
            metrics: ProbeMetrics::default(),
        });
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(prober::run(Arc::downgrade(&health)));
        }
        health
    }

    /// Marks the service as shutting down: readiness turns false at once.
    pub fn set_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// Adds the probe's gauges to the service's registry.
    pub fn register_metrics(&self, metrics: &shop_telemetry::metrics::Metrics) {
        self.metrics.register(metrics);
    }

    /// Turns a probe round into the public report and the gauges.
    fn publish(&self, round: &Round) {
        for (&dependency, outcome) in round {
            let label = DependencyLabel { dependency };
            self.metrics
                .up
                .get_or_create(&label)
                .set(i64::from(outcome.error.is_none()));
            self.metrics
                .duration
                .get_or_create(&label)
                .set(outcome.latency.as_secs_f64());
        }
        let report = Arc::new(self.summarise(round));
        self.latest.send_replace(Some(report));
    }

    fn summarise(&self, round: &Round) -> HealthReport {
        let required_down = round.values().any(|o| o.required && o.error.is_some());
        let optional_down = round.values().any(|o| o.error.is_some());
        HealthReport {
            status: if required_down {
                "unhealthy"
            } else if optional_down {
                "degraded"
            } else {
                "healthy"
            },
            service: self.info.name,
            version: self.info.version,
            dependencies: round
                .iter()
                .map(|(&name, outcome)| {
                    let status = DependencyStatus {
                        status: if outcome.error.is_none() {
                            "up"
                        } else {
                            "down"
                        },
                        required: outcome.required,
                    };
                    (name, status)
                })
                .collect(),
        }
    }

    /// The last probe's report. Right after start this waits for the first round (bounded by
    /// the check timeout); without a background probe (no runtime at construction) it probes.
    pub async fn report(&self) -> Arc<HealthReport> {
        let mut latest = self.latest.subscribe();
        let first = tokio::time::timeout(
            prober::CHECK_TIMEOUT + prober::PROBE_INTERVAL,
            latest.wait_for(Option::is_some),
        )
        .await
        // The guard must not live across the probe below.
        .map(|seen| seen.ok().and_then(|report| report.clone()));
        if let Ok(Some(report)) = first {
            return report;
        }
        let round = prober::probe(&self.checks).await;
        self.publish(&round);
        Arc::new(self.summarise(&round))
    }
}

/// Mounts `/health`, `/health/live` and `/health/ready`.
pub fn router(health: Arc<Health>) -> Router {
    Router::with_path("health")
        .hoop(crate::route::route_template("/health"))
        .get(HealthEndpoint(health.clone()))
        .push(
            Router::with_path("live")
                .hoop(crate::route::route_template("/health/live"))
                .get(live),
        )
        .push(
            Router::with_path("ready")
                .hoop(crate::route::route_template("/health/ready"))
                .get(ReadyEndpoint(health)),
        )
}

struct HealthEndpoint(Arc<Health>);

#[async_trait]
impl Handler for HealthEndpoint {
    async fn handle(&self, _: &mut Request, _: &mut Depot, res: &mut Response, _: &mut FlowCtrl) {
        let report = self.0.report().await;
        if report.status == "unhealthy" {
            res.status_code(StatusCode::SERVICE_UNAVAILABLE);
        }
        res.render(Json(&*report));
    }
}

struct ReadyEndpoint(Arc<Health>);

#[async_trait]
impl Handler for ReadyEndpoint {
    async fn handle(&self, _: &mut Request, _: &mut Depot, res: &mut Response, _: &mut FlowCtrl) {
        let draining = self.0.draining.load(Ordering::Relaxed);
        let report = self.0.report().await;
        let ready = !draining && report.status != "unhealthy";
        if !ready {
            res.status_code(StatusCode::SERVICE_UNAVAILABLE);
        }
        res.render(Json(serde_json::json!({
            "ready": ready,
            "draining": draining,
            "status": report.status,
        })));
    }
}

/// The liveness answer never changes, and it is the request every platform sends most often:
/// written out once instead of serialised per request.
#[handler]
async fn live(res: &mut Response) {
    res.headers_mut().insert(
        salvo::http::header::CONTENT_TYPE,
        salvo::http::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    res.body(r#"{"status":"alive"}"#);
}

#[cfg(test)]
mod tests;
