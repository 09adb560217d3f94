//! The Order Service (port 8003): orders that never oversell, idempotent creation, and every
//! change published to RabbitMQ through a transactional outbox.
//!
//! - [`routes`]: `POST/GET /orders`, `GET/PUT/DELETE /orders/{id}`, all behind a bearer token;
//!   each write handler parses its request and calls one function of [`commands`].
//! - [`commands`]: placing an order (idempotency key, reservation, storage, compensation) and
//!   changing or deleting one.
//! - [`domain`]: the stored order, the status lifecycle and its permissions, the domain's
//!   refusals; quantities and exact totals.
//! - [`repository`]: orders and idempotency keys in raw SQL (`sql/order/`).
//! - [`product_client`]: stock reservations in the Product Service; [`releases`] gives stock
//!   back, retrying until the Product Service confirms.
//! - [`write_rate`]: how many orders a customer may place or change per window, counted in
//!   PostgreSQL so the replicas share it.
//! - [`events`]: an order as the event contract ([`order_events`]) shows it; [`outbox`]: the
//!   store that appends events in the order's transaction and the relay that publishes them
//!   with publisher confirms.

mod app;
pub mod commands;
pub mod config;
pub mod domain;
pub mod error;
pub mod events;
pub mod housekeeping;
pub mod metrics;
pub mod outbox;
pub mod product_client;
pub mod releases;
pub mod repository;
pub mod routes;
pub mod state;
pub mod write_rate;

pub use app::{Application, Exposed, INFO, build, migrations};
