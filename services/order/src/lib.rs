//! The Order Service (port 8003): orders that never oversell, idempotent creation, and every
//! change published to RabbitMQ through a transactional outbox.
//!
//! - [`routes`]: `POST/GET /orders`, `GET/PUT/DELETE /orders/{id}`, all behind a bearer token.
//! - [`domain`]: the status lifecycle and its permissions; quantities and exact totals.
//! - [`repository`]: orders, idempotency keys and the outbox in raw SQL (`sql/order/`).
//! - [`product_client`]: stock reservations in the Product Service; [`releases`] gives stock
//!   back, retrying until the Product Service confirms.
//! - [`events`] and [`outbox`]: the event payloads and the relay that publishes them with
//!   publisher confirms.

mod app;
pub mod config;
pub mod domain;
pub mod error;
pub mod events;
pub mod metrics;
pub mod outbox;
pub mod product_client;
pub mod releases;
pub mod repository;
pub mod routes;
pub mod state;

pub use app::{Application, Exposed, INFO, build, migrations};
