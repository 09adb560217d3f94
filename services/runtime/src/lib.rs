//! The runtime every service binary of the shop shares, so that no service writes its own.
//!
//! The clients of outside systems are cargo features, so a service builds only the drivers it
//! uses: `postgres` ([`db`]), `amqp`, `nats`, `redis`, and `auth-client` (the User Service
//! client in [`auth`]). Third-party crates are never re-exported: a service names lapin,
//! tokio-postgres or async-nats itself, through the workspace's dependency table.
//!
//! - [`config`]: layered settings (defaults → optional TOML file → environment) with secrets
//!   that never print, failing start-up with one line that names the bad key.
//! - [`telemetry`]: JSON or human logs carrying the trace and span id, OpenTelemetry traces over
//!   OTLP, W3C trace-context extraction and injection.
//! - [`metrics`]: the Prometheus registry, HTTP RED metrics by route template, `/metrics`.
//! - [`health`]: `/health`, `/health/live`, `/health/ready` over pluggable dependency checks.
//! - [`api_error`]: a service's error enum declared once: its problem documents, log lines
//!   and OpenAPI responses; [`openapi`]: the document (plain type names, security schemes).
//! - [`problem`]: RFC 9457 `application/problem+json` errors and the catcher that turns every
//!   framework error (unknown route, wrong method, oversized body) into one.
//! - [`amqp`]: a supervised RabbitMQ connection, confirmed publishing, resilient consuming.
//! - [`nats`]: a self-reconnecting NATS client, JetStream streams ensured at start, health
//!   checks, trace context in message headers, flush on shutdown.
//! - [`auth`]: the User Service client (cached token validation) and the hoop that admits
//!   callers; [`http_client`]: outgoing HTTP with a client span and `traceparent`.
//! - [`body`]: JSON and form body parsing with a precise 400/415/422 split.
//! - [`db`]: the PostgreSQL pool, database creation, locked migrations and traced statements.
//! - [`redis`]: a bb8-redis pool for optional uses (caches) with short timeouts, traced commands
//!   and a [`breaker`] so Redis being down costs nothing per request.
//! - [`client_addr`]: the client's address behind trusted proxies (`TRUSTED_PROXIES`) and the
//!   per-client key limits count under.
//! - [`service_auth`]: the `X-Service-Token` credential guarding internal routes.
//! - [`host`]: the one service host: a service hands over its routes, checks, background tasks
//!   and what to close; the host serves and shuts all of it down in one order.
//! - [`route`]: route templates and handler state, shared by the server and health routes.
//! - [`trace_trust`]: whose inbound `traceparent` a request span continues.
//! - [`server`]: assembles a service's router with the common routes and middleware and serves
//!   it until the shutdown token fires, draining within a deadline.
#![warn(missing_debug_implementations)]

#[cfg(feature = "amqp")]
pub mod amqp;
pub mod api_error;
pub mod auth;
#[cfg(any(feature = "amqp", feature = "redis"))]
pub mod backoff;
pub mod binary;
pub mod body;
pub mod breaker;
pub mod client_addr;
pub mod config;
#[cfg(feature = "postgres")]
pub mod db;
pub mod health;
pub mod host;
pub mod http_client;
pub mod metrics;
#[cfg(feature = "nats")]
pub mod nats;
pub mod openapi;
pub mod problem;
#[cfg(feature = "redis")]
pub mod redis;
pub mod route;
pub mod server;
pub mod service_auth;
pub mod telemetry;
pub mod trace_trust;

/// Name and version of the running service, as reported by `/health` and on every trace.
#[derive(Debug, Clone, Copy)]
pub struct ServiceInfo {
    pub name: &'static str,
    pub version: &'static str,
    /// One sentence for the OpenAPI document (the crate's `description`).
    pub description: &'static str,
}

/// The [`ServiceInfo`] of the crate that invokes it: its package name and version, so that no
/// service writes its own name a second time.
#[macro_export]
macro_rules! service_info {
    () => {
        $crate::ServiceInfo {
            name: env!("CARGO_PKG_NAME"),
            version: env!("CARGO_PKG_VERSION"),
            description: env!("CARGO_PKG_DESCRIPTION"),
        }
    };
}
