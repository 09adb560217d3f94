//! The event bridge: mirrors the RabbitMQ order events onto NATS JetStream, exactly once in the
//! stream (port 8005 for `/health`, `/metrics`, `/openapi.json`, `/docs`).
//!
//! - [`config`]: the `BRIDGE_*` settings (queue, binding keys, subject prefix, stream).
//! - [`topology`]: exchange, queue, dead-letter queue and prefetch, declared on every channel.
//! - [`message`]: delivery → subject, `Nats-Msg-Id` and headers (pure, unit-tested).
//! - [`mirror`]: publish, await the PubAck, then ack; retries and dead-lettering.
//! - [`metrics`]: mirrored, duplicate, redelivered, failed, in flight, latencies.
//! - [`routes`]: `GET /stream`, the mirror's source, target and the stream's state.
//! - [`Application`]: builds all of it and runs it; consuming is
//!   `shop_amqp::consume_ordered` (a window in order per order, `message::lane`), the NATS
//!   connection and stream helpers are `shop_nats`.

mod app;
pub mod config;
pub mod message;
pub mod metrics;
pub mod mirror;
pub mod routes;
pub mod topology;

pub use app::{Application, INFO, build};
