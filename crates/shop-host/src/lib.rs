//! The one service host: a service builds its parts and hands them over; the host binds,
//! serves, runs the background work and shuts everything down in one order.
//!
//! On the shutdown signal the host
//! 1. turns readiness false, and tells *intake* tasks (consumers taking work from a broker) to
//!    stop taking more; it keeps serving for `SHUTDOWN_DRAIN_MS` (so a load balancer polling
//!    readiness stops sending requests first), then closes its listening socket (a new
//!    connection is refused at once);
//! 2. lets in-flight requests finish, for at most `SHUTDOWN_TIMEOUT_SECS`;
//! 3. tells *workers* (relays, retry loops) to stop, and waits for them, for the intake tasks
//!    and for every task spawned through [`Tasks`];
//! 4. runs the closers (pools, broker connections) in the order they were given.
//!
//! Workers stop only after the requests because a request may leave work for them (an outbox
//! row to publish, a reservation to release).
#![warn(missing_debug_implementations)]

pub mod binary;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use salvo::Router;
use salvo::Service;
use salvo::conn::tcp::TcpAcceptor;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use shop_config::CommonConfig;
use shop_config::ServiceInfo;
use shop_http::health::{DependencyCheck, Health};
use shop_http::server::{self, ServiceParts, ShutdownTiming};
use shop_telemetry::metrics::Metrics;
use shop_telemetry::request_trace::RequestTracing;

type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send>>;
type Job = Box<dyn FnOnce(CancellationToken) -> BoxFuture + Send>;

/// Where a service spawns its tasks, so that shutdown waits for them: a request handler's
/// fire-and-forget work as much as a background loop.
#[derive(Debug, Clone, Default)]
pub struct Tasks {
    tracker: TaskTracker,
    draining: CancellationToken,
    stopping: CancellationToken,
}

impl Tasks {
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `task` on the runtime; the host waits for it before closing connections.
    pub fn spawn<F>(&self, task: F) -> JoinHandle<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.tracker.spawn(task)
    }

    /// Fires when shutdown begins: stop taking new work from outside.
    pub fn draining(&self) -> CancellationToken {
        self.draining.clone()
    }

    /// Fires once in-flight requests have finished: background work should wrap up.
    pub fn stopping(&self) -> CancellationToken {
        self.stopping.clone()
    }
}

/// What a service hands to [`ServiceHost::bind`].
pub struct HostParts<'a> {
    pub info: ServiceInfo,
    /// The service's own routes; the host adds health, metrics, OpenAPI and docs.
    pub api: Router,
    pub checks: Vec<Arc<dyn DependencyCheck>>,
    pub metrics: Arc<Metrics>,
    pub common: &'a CommonConfig,
    /// The service's task set, if it spawns tasks while building or serving.
    pub tasks: Tasks,
}

impl std::fmt::Debug for HostParts<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostParts")
            .field("info", &self.info)
            .field("checks", &self.checks.len())
            .finish_non_exhaustive()
    }
}

/// A service bound to its port with everything it runs, ready for [`ServiceHost::run`].
/// `E` is what the service exposes to tests that look behind its API (its state, say).
pub struct ServiceHost<E = ()> {
    exposed: E,
    info: ServiceInfo,
    acceptor: TcpAcceptor,
    service: Service,
    health: Arc<Health>,
    shutdown: ShutdownTiming,
    tasks: Tasks,
    intake: Vec<(&'static str, Job)>,
    workers: Vec<(&'static str, Job)>,
    closers: Vec<BoxFuture>,
}

impl<E> std::fmt::Debug for ServiceHost<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceHost")
            .field("info", &self.info)
            .field("address", &server::local_addr(&self.acceptor))
            .field("intake", &self.intake.len())
            .field("workers", &self.workers.len())
            .field("closers", &self.closers.len())
            .finish_non_exhaustive()
    }
}

impl ServiceHost {
    /// Builds the HTTP service (the API plus the common routes) and binds its port.
    pub async fn bind(parts: HostParts<'_>) -> anyhow::Result<Self> {
        let health = Health::new(parts.info, parts.checks);
        let service = server::build_service(ServiceParts {
            info: parts.info,
            api: parts.api,
            health: health.clone(),
            metrics: parts.metrics,
            max_body_bytes: parts.common.max_body_bytes,
            tracing: RequestTracing::from_config(parts.common),
        });
        let acceptor = server::bind(parts.common.host, parts.common.port).await?;
        Ok(Self {
            exposed: (),
            info: parts.info,
            acceptor,
            service,
            health,
            shutdown: ShutdownTiming::from_config(parts.common),
            tasks: parts.tasks,
            intake: Vec::new(),
            workers: Vec::new(),
            closers: Vec::new(),
        })
    }
}

impl<E: Send> ServiceHost<E> {
    pub fn local_addr(&self) -> SocketAddr {
        server::local_addr(&self.acceptor)
    }

    /// Keeps `exposed` with the host, for tests that look behind the API.
    pub fn exposing<X>(self, exposed: X) -> ServiceHost<X> {
        ServiceHost {
            exposed,
            info: self.info,
            acceptor: self.acceptor,
            service: self.service,
            health: self.health,
            shutdown: self.shutdown,
            tasks: self.tasks,
            intake: self.intake,
            workers: self.workers,
            closers: self.closers,
        }
    }

    /// What the service exposed with [`ServiceHost::exposing`].
    pub fn exposed(&self) -> &E {
        &self.exposed
    }

    /// A task that takes work from outside (a queue consumer): its token fires with the
    /// shutdown signal, and it should finish what it holds, then return.
    #[must_use]
    pub fn intake<F, Fut>(mut self, name: &'static str, task: F) -> Self
    where
        F: FnOnce(CancellationToken) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.intake
            .push((name, Box::new(move |token| Box::pin(task(token)))));
        self
    }

    /// A background loop: its token fires once in-flight requests have finished.
    #[must_use]
    pub fn worker<F, Fut>(mut self, name: &'static str, task: F) -> Self
    where
        F: FnOnce(CancellationToken) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.workers
            .push((name, Box::new(move |token| Box::pin(task(token)))));
        self
    }

    /// Something to close after every task has ended (a pool, a connection); closers run in
    /// the order they were added.
    #[must_use]
    pub fn on_close(mut self, close: impl Future<Output = ()> + Send + 'static) -> Self {
        self.closers.push(Box::pin(close));
        self
    }

    /// Serves and runs the tasks until `shutdown` fires, then shuts down in the order the
    /// module documentation gives.
    pub async fn run(self, shutdown: CancellationToken) {
        tracing::info!(address = %self.local_addr(), "{} listening", self.info.name);
        let tasks = self.tasks;
        let mut running = Vec::new();
        for (name, job) in self.intake {
            running.push((name, tasks.spawn(job(tasks.draining()))));
        }
        for (name, job) in self.workers {
            running.push((name, tasks.spawn(job(tasks.stopping()))));
        }
        let draining = tasks.draining();
        let signal = shutdown.clone();
        tasks.spawn(async move {
            tokio::select! {
                () = signal.cancelled() => draining.cancel(),
                () = draining.cancelled() => {}
            }
        });

        server::serve(
            self.acceptor,
            self.service,
            self.health,
            shutdown,
            self.shutdown,
        )
        .await;
        // The server also ends on its own (a failed accept loop): drain the rest just the same.
        tasks.draining.cancel();
        tasks.stopping.cancel();
        for (name, handle) in running {
            if let Err(error) = handle.await {
                tracing::error!(task = name, error = %error, "task failed");
            }
        }
        tasks.tracker.close();
        tasks.tracker.wait().await;
        for close in self.closers {
            close.await;
        }
    }
}

#[cfg(test)]
mod tests;
