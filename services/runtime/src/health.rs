//! Health endpoints.
//!
//! - `GET /health`: service, version and every dependency's status and latency. 200 while every
//!   *required* dependency is up (an optional one such as a cache may be down: "degraded"),
//!   otherwise 503.
//! - `GET /health/live`: the process is serving; never touches a dependency.
//! - `GET /health/ready`: 200 only while required dependencies are up and the service is not
//!   draining, so a load balancer stops sending traffic before shutdown.
//!
//! [`probe`] asks a running instance from the command line (`<binary> healthcheck`).

pub mod probe;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use salvo::http::StatusCode;
use salvo::oapi::ToSchema;
use salvo::prelude::*;
use serde::Serialize;

use crate::ServiceInfo;

/// How long one dependency check may take before it counts as down.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// A dependency the service can probe.
#[async_trait]
pub trait DependencyCheck: Send + Sync {
    /// Name in the report, e.g. `database`, `redis`, `rabbitmq`.
    fn name(&self) -> &'static str;
    /// Whether the service is unready while this dependency is down.
    fn required(&self) -> bool {
        true
    }
    /// Ok when usable; the error text is shown in the report.
    async fn check(&self) -> Result<(), String>;
    /// Extra facts for the report (a backlog, a lag), shown under `detail`.
    async fn detail(&self) -> Option<serde_json::Value> {
        None
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DependencyStatus {
    /// `up` or `down`.
    pub status: &'static str,
    pub required: bool,
    pub latency_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HealthReport {
    /// `healthy`, `degraded` (an optional dependency is down) or `unhealthy`.
    pub status: &'static str,
    pub service: &'static str,
    pub version: &'static str,
    pub dependencies: BTreeMap<&'static str, DependencyStatus>,
}

/// The set of checks behind the health endpoints.
pub struct Health {
    info: ServiceInfo,
    checks: Vec<Arc<dyn DependencyCheck>>,
    draining: AtomicBool,
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
    pub fn new(info: ServiceInfo, checks: Vec<Arc<dyn DependencyCheck>>) -> Arc<Self> {
        Arc::new(Self {
            info,
            checks,
            draining: AtomicBool::new(false),
        })
    }

    /// Marks the service as shutting down: readiness turns false at once.
    pub fn set_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    pub async fn report(&self) -> HealthReport {
        let results = join_all(self.checks.iter().map(|check| async move {
            let started = Instant::now();
            let outcome = match tokio::time::timeout(CHECK_TIMEOUT, check.check()).await {
                Ok(outcome) => outcome,
                Err(_) => Err(format!("no answer within {} ms", CHECK_TIMEOUT.as_millis())),
            };
            let latency_ms = (started.elapsed().as_secs_f64() * 1000.0 * 100.0).round() / 100.0;
            let detail = match outcome {
                Ok(()) => check.detail().await,
                Err(_) => None,
            };
            let status = DependencyStatus {
                detail,
                status: if outcome.is_ok() { "up" } else { "down" },
                required: check.required(),
                latency_ms,
                error: outcome.err(),
            };
            (check.name(), status)
        }))
        .await;
        let required_down = results
            .iter()
            .any(|(_, status)| status.required && status.error.is_some());
        let optional_down = results.iter().any(|(_, status)| status.error.is_some());
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
            dependencies: results.into_iter().collect(),
        }
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
        res.render(Json(report));
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

#[handler]
async fn live(res: &mut Response) {
    res.render(Json(serde_json::json!({ "status": "alive" })));
}
