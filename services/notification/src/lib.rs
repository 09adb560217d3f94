//! The Notification Service (port 8004): consumes order events from RabbitMQ and tells the
//! customer through the configured channels. Stateless; several replicas compete for one queue.
//!
//! - [`event`]: the order events it handles, from the shared contract (`order-events`,
//!   `docs/events.md`), decoded strictly.
//! - [`queues`]: the names of the work, delay and dead-letter queues, and the retry policy that
//!   moves messages between them; [`topology`] declares them with the exchange.
//! - [`handler`]: one delivery from decoding to ack, retry or dead letter; [`headers`]: what
//!   it writes on the copies it parks.
//! - [`channels`]: log (default), email over SMTP, signed HTTP webhook.
//! - [`dedup`]: the bounded memory that keeps a redelivered event from notifying twice;
//!   [`shared_dedup`]: the same across replicas, in Redis (`NOTIFY_DEDUP_STORE=redis`).
//! - [`metrics`]: handled, failed, retried, dead-lettered, handling latency.
//! - [`Application`]: builds all of it from a [`config::NotificationConfig`]; the runtime adds
//!   `/health*` (with RabbitMQ), `/metrics`, `/openapi.json` and `/docs`.

mod app;
pub mod channels;
pub mod config;
pub mod dedup;
pub mod event;
pub mod handler;
pub mod headers;
pub mod metrics;
pub mod queues;
pub mod shared_dedup;
pub mod topology;

pub use app::{Application, INFO, build};
