//! Assembles a service's HTTP surface and serves it until shutdown.
//!
//! Every service gets the same outer layer: the caller's W3C trace continued (with a request
//! span when the trace is exported and sampled, see `shop_telemetry::request_trace`), RED
//! metrics by route template, the body size limit, panic containment, problem+json for
//! every error, and the common routes `/health*`, `/metrics`, `/openapi.json` and `/docs`.

use std::net::{IpAddr, SocketAddr};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::FutureExt as _;
use opentelemetry::KeyValue;
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::TraceContextExt;
use salvo::catcher::Catcher;
use salvo::conn::Acceptor;
use salvo::conn::tcp::TcpAcceptor;
use salvo::oapi::swagger_ui::SwaggerUi;
use salvo::prelude::*;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::health::{self, Health};
use crate::problem;
pub use crate::route::{Provide, RouteTemplate, route, route_template, state};
use shop_config::ServiceInfo;
use shop_telemetry::metrics::{HttpLabels, Metrics, MetricsEndpoint};
use shop_telemetry::request_trace::{RequestTrace, RequestTracing};

/// Outer middleware: trace context or span, metrics, body limit, panic containment.
struct Observe {
    metrics: Arc<Metrics>,
    max_body_bytes: usize,
    tracing: RequestTracing,
}

/// Decrements the in-flight gauge however the request ends.
struct InFlight<'a>(&'a Metrics);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.http.in_flight.dec();
    }
}

#[async_trait]
impl Handler for Observe {
    async fn handle(
        &self,
        req: &mut Request,
        depot: &mut Depot,
        res: &mut Response,
        ctrl: &mut FlowCtrl,
    ) {
        req.set_secure_max_size(self.max_body_bytes);
        let started = Instant::now();
        let method = shop_telemetry::metrics::method_label(req.method());
        // A malformed or absent traceparent simply starts a new trace; so does one sent by a
        // client that is not a peer of the system (see `trace_trust`).
        let peer = req
            .remote_addr()
            .as_ipv4()
            .map(|addr| IpAddr::V4(*addr.ip()))
            .or_else(|| {
                req.remote_addr()
                    .as_ipv6()
                    .map(|addr| IpAddr::V6(*addr.ip()))
            });
        let inbound = shop_telemetry::trace_trust::inbound_context(peer, req.headers());
        let trace = self.tracing.start(inbound, || {
            tracing::info_span!(
                "http.request",
                otel.kind = "server",
                http.request.method = %method,
                url.path = %req.uri().path(),
            )
        });

        self.metrics.http.in_flight.inc();
        let guard = InFlight(&self.metrics);
        // Panics are contained here rather than by a hoop of their own: one boxed future and
        // one hop down the chain fewer per request.
        let answer = AssertUnwindSafe(ctrl.call_next(req, depot, res)).catch_unwind();
        let (answered, span) = match trace {
            RequestTrace::Span(span) => (answer.instrument(span.clone()).await, Some(span)),
            RequestTrace::Context(context) => (answer.with_context(context).await, None),
        };
        drop(guard);
        if let Err(panic) = answered {
            // The message is for the logs only: it may quote internal state or request data.
            tracing::error!(
                panic = panic_message(&*panic),
                "a handler panicked; the request is answered 500"
            );
            res.render(StatusError::internal_server_error().brief("the server failed"));
        }

        let status = res.status_code.unwrap_or(StatusCode::NOT_FOUND);
        let route = match depot.get_typed::<RouteTemplate>() {
            Ok(template) => template.0,
            Err(_) if status == StatusCode::NOT_FOUND => "unmatched",
            Err(_) => "other",
        };
        if let Some(span) = span {
            describe(&span, method, route, status);
        }
        let labels = HttpLabels {
            method,
            route,
            status: status.as_u16(),
        };
        self.metrics
            .http
            .record(&labels, started.elapsed().as_secs_f64());
    }
}

/// What a panic said, when it said it with a string (as `panic!` and `expect` do).
fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

/// Names the request's span after its route and records the route and status, known only
/// once the request has been answered. The OpenTelemetry span has been started by then
/// (entering it does that, and `context()` would), and tracing-opentelemetry ignores a late
/// `otel.name`: all three are set on the span itself, which also costs a fraction of recording
/// them as tracing fields (no log line shows span fields).
fn describe(span: &tracing::Span, method: &str, route: &'static str, status: StatusCode) {
    let context = span.context();
    let otel_span = context.span();
    otel_span.update_name(format!("{method} {route}"));
    otel_span.set_attribute(KeyValue::new("http.route", route));
    otel_span.set_attribute(KeyValue::new(
        "http.response.status_code",
        i64::from(status.as_u16()),
    ));
    if status.is_server_error() {
        otel_span.set_status(opentelemetry::trace::Status::error(""));
    }
}

/// Everything a service contributes to its HTTP surface.
#[derive(Debug)]
pub struct ServiceParts {
    pub info: ServiceInfo,
    /// The service's own routes, built with [`route`].
    pub api: Router,
    pub health: Arc<Health>,
    pub metrics: Arc<Metrics>,
    pub max_body_bytes: u64,
    /// Whether requests get spans: `RequestTracing::from_config` of the service's settings.
    pub tracing: RequestTracing,
}

/// The complete salvo service: the API plus the common routes, middleware and catcher.
pub fn build_service(parts: ServiceParts) -> Service {
    parts.health.register_metrics(&parts.metrics);
    let router = Router::new()
        .push(parts.api)
        .push(health::router(parts.health))
        .push(route("/metrics").get(MetricsEndpoint(parts.metrics.clone())));
    let document = crate::openapi::document(parts.info, &router);
    let router = router
        .push(
            Router::new()
                .hoop(route_template("/openapi.json"))
                .push(document.into_router("/openapi.json")),
        )
        .push(
            Router::new()
                .hoop(route_template("/docs"))
                .push(SwaggerUi::new("/openapi.json").into_router("/docs")),
        );
    Service::new(router)
        .hoop(Observe {
            metrics: parts.metrics,
            max_body_bytes: usize::try_from(parts.max_body_bytes).unwrap_or(usize::MAX),
            tracing: parts.tracing,
        })
        .catcher(Catcher::new(problem::catcher))
}

/// Binds the listening socket; port 0 picks a free one.
pub async fn bind(host: IpAddr, port: u16) -> anyhow::Result<TcpAcceptor> {
    let acceptor = TcpListener::new(SocketAddr::new(host, port))
        .try_bind()
        .await
        .map_err(|error| anyhow::anyhow!("cannot listen on {host}:{port}: {error}"))?;
    Ok(acceptor)
}

/// The address an acceptor listens on.
pub fn local_addr(acceptor: &TcpAcceptor) -> SocketAddr {
    acceptor
        .holdings()
        .first()
        .and_then(|holding| holding.local_addr.clone().into_std())
        .expect("a TCP acceptor has a socket address")
}

/// How a service stops once the shutdown signal fires.
#[derive(Debug, Clone, Copy, Default)]
pub struct ShutdownTiming {
    /// How long it keeps serving, unready, before it stops accepting (`SHUTDOWN_DRAIN_MS`).
    pub unready_for: Duration,
    /// How long in-flight requests then get to finish (`SHUTDOWN_TIMEOUT_SECS`).
    pub requests: Duration,
}

impl ShutdownTiming {
    pub fn from_config(common: &shop_config::CommonConfig) -> Self {
        Self {
            unready_for: Duration::from_millis(common.shutdown_drain_ms),
            requests: Duration::from_secs(common.shutdown_timeout_secs),
        }
    }
}

/// Serves until `shutdown` fires, then marks the service unready and keeps serving for
/// `timing.unready_for`, then closes its listening socket (a new connection is refused at
/// once) and lets in-flight requests finish for at most `timing.requests`; idle keep-alive
/// connections are closed.
pub async fn serve(
    acceptor: TcpAcceptor,
    service: Service,
    health: Arc<Health>,
    shutdown: CancellationToken,
    timing: ShutdownTiming,
) {
    let acceptor = ClosingAcceptor::new(acceptor);
    let close = acceptor.close.clone();
    let closed = acceptor.closed.clone();
    let server = Server::new(acceptor);
    let handle = server.handle();
    tokio::spawn(async move {
        shutdown.cancelled().await;
        health.set_draining();
        tracing::info!(
            unready_ms = timing.unready_for.as_millis(),
            drain_secs = timing.requests.as_secs(),
            "shutting down: unready, then draining requests"
        );
        // A load balancer polling readiness keeps sending requests here until its next check;
        // refusing connections before then would fail them.
        tokio::time::sleep(timing.unready_for).await;
        close.cancel();
        // The accept loop lets go of the socket before it is told to stop, after which it
        // would never look at the acceptor again.
        closed.cancelled().await;
        handle.stop_graceful(timing.requests);
    });
    server.serve(service).await;
}

/// The listening socket, closed when the unready period ends. Salvo stops accepting on a graceful stop
/// but keeps the socket open until every connection has ended: a client connecting meanwhile
/// (the gateway's health probe, a service calling this replica) would wait in the backlog for
/// the whole drain and then be reset. Closed, the port refuses it at once, and the client
/// goes elsewhere.
struct ClosingAcceptor {
    listening: Option<TcpAcceptor>,
    holdings: Vec<salvo::conn::Holding>,
    /// Fired by the shutdown: close the socket.
    close: CancellationToken,
    /// Fired once the socket is closed.
    closed: CancellationToken,
}

impl ClosingAcceptor {
    fn new(acceptor: TcpAcceptor) -> Self {
        Self {
            holdings: acceptor.holdings().to_vec(),
            listening: Some(acceptor),
            close: CancellationToken::new(),
            closed: CancellationToken::new(),
        }
    }
}

impl Drop for ClosingAcceptor {
    /// A server that ended by itself has let go of the socket too.
    fn drop(&mut self) {
        self.closed.cancel();
    }
}

impl Acceptor for ClosingAcceptor {
    type Coupler = <TcpAcceptor as Acceptor>::Coupler;
    type Stream = <TcpAcceptor as Acceptor>::Stream;

    fn holdings(&self) -> &[salvo::conn::Holding] {
        &self.holdings
    }

    async fn accept(
        &mut self,
        fuse_policy: Option<salvo::fuse::ArcFusePolicy>,
    ) -> std::io::Result<salvo::conn::Accepted<Self::Coupler, Self::Stream>> {
        if let Some(listening) = self.listening.as_mut() {
            tokio::select! {
                accepted = listening.accept(fuse_policy) => return accepted,
                () = self.close.cancelled() => {}
            }
            self.listening = None;
            self.closed.cancel();
        }
        // Nothing more to accept; the server stops on the command that follows.
        std::future::pending().await
    }
}

/// A token cancelled on SIGTERM or SIGINT.
pub fn shutdown_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let trigger = token.clone();
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut terminate =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("installing the SIGTERM handler");
            tokio::select! {
                _ = ctrl_c => {}
                _ = terminate.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        trigger.cancel();
    });
    token
}

/// Installs the process-wide rustls crypto provider (ring). Call first thing in `main`: several
/// dependencies use rustls and none may pick a provider on its own.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[cfg(test)]
mod tests {
    use super::panic_message;

    /// `panic!` with a literal hands over a `&str`, with arguments a `String`; the log line
    /// quotes either, and says so when a panic carried something else.
    #[test]
    fn a_panic_is_logged_with_what_it_said() {
        let literal = std::panic::catch_unwind(|| panic!("literal")).unwrap_err();
        assert_eq!(panic_message(&*literal), "literal");
        // A run-time argument: the compiler folds literal ones into the string.
        let id = std::hint::black_box(7);
        let formatted = std::panic::catch_unwind(|| panic!("id {id}")).unwrap_err();
        assert_eq!(panic_message(&*formatted), "id 7");
        let other = std::panic::catch_unwind(|| std::panic::panic_any(7_u8)).unwrap_err();
        assert_eq!(panic_message(&*other), "(no message)");
    }
}
