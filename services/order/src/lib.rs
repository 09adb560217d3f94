//! The Order Service (port 8003): orders that never oversell, idempotent creation, and every
//! change published to RabbitMQ through a transactional outbox.
//!
//! The layers, each importing only those below it: [`domain`] below [`commands`] below the
//! route edge ([`routes`] and its [`error`]). Only the edge speaks HTTP (salvo, `shop_http`, the
//! authenticated `Caller`); the domain and the commands speak domain types.
//!
//! - [`routes`]: `POST/GET /orders`, `GET/PUT/DELETE /orders/{id}`, all behind a bearer token;
//!   each write handler parses its request into a command's plain inputs and calls one function
//!   of [`commands`]. [`error`]: the HTTP error (request problems, invalid fields, a command's
//!   outcome) and its one mapping to problem+json.
//! - [`commands`]: placing an order (idempotency key, reservation, storage, compensation) and
//!   changing or deleting one, for a domain `Actor`; each ends in an order or a `CommandError`.
//! - [`domain`]: the stored order, who acts on it, the status lifecycle and its permissions, the
//!   domain's refusals; quantities and exact totals.
//! - [`repository`]: orders and idempotency keys in raw SQL (`sql/order/`).
//! - [`product_client`]: stock reservations in the Product Service; [`releases`] gives stock
//!   back, retrying until the Product Service confirms.
//! - [`write_rate`]: how many orders a customer may place or change per window, counted in
//!   PostgreSQL so the replicas share it.
//! - [`housekeeping`]: the periodic work: pending orders expire (cancelled through the ordinary
//!   change path, their stock released) and old outbox rows, idempotency keys and write counts
//!   are purged.
//! - [`events`]: an order as the event contract ([`order_events`]) shows it; the repository
//!   appends them to the transactional outbox ([`order_outbox`]) in the order's transaction,
//!   and the outbox's relay, run by the service host, publishes them with publisher confirms.
//! - [`state`]: what handlers share; [`config`], [`metrics`] and the wiring that builds the
//!   service from them.

mod app;
pub mod commands;
pub mod config;
pub mod domain;
pub mod error;
pub mod events;
pub mod housekeeping;
pub mod metrics;
pub mod product_client;
pub mod releases;
pub mod repository;
pub mod routes;
pub mod state;
pub mod write_rate;

pub use app::{Application, Exposed, INFO, build, migrations};
