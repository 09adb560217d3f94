//! The HTTP floor every service stands on, so that no service writes its own.
//!
//! - [`server`]: assembles a service's router with the common routes and middleware and serves
//!   it until the shutdown token fires, draining within a deadline.
//! - [`route`]: route templates and handler state, shared by the server and health routes.
//! - [`health`]: `/health`, `/health/live`, `/health/ready` over the services' dependency checks.
//! - [`problem`]: RFC 9457 `application/problem+json` errors and the catcher that turns every
//!   framework error (unknown route, wrong method, oversized body) into one.
//! - [`api_error`]: a service's error enum declared once: its problem documents, log lines
//!   and OpenAPI responses; [`openapi`]: the document (plain type names, security schemes).
//! - [`body`]: JSON and form body parsing with a precise 400/415/422 split.
//! - [`client_addr`]: the client's address behind trusted proxies and the per-client key
//!   limits count under.
//! - [`service_auth`]: the `X-Service-Token` credential guarding internal routes.
//! - [`headers`]: the header names shared by the modules above and by clients.
//! - [`http_client`]: outgoing HTTP with a client span and `traceparent`.
#![warn(missing_debug_implementations)]

pub mod api_error;
pub mod body;
pub mod client_addr;
pub mod headers;
pub mod health;
pub mod http_client;
pub mod openapi;
pub mod problem;
pub mod route;
pub mod server;
pub mod service_auth;
