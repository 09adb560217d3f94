//! The Product Service: the shop's catalogue and its stock (port 8002).
//!
//! - [`routes`]: public `GET /products` and `GET /products/{id}`; admin `POST /products`,
//!   `PUT`/`DELETE /products/{id}`; internal `POST /internal/reservations` and
//!   `DELETE /internal/reservations/{id}`, `POST /internal/reservations/{id}/confirmation` behind the service credential. The runtime adds
//!   `/health*`, `/metrics`, `/openapi.json` and `/docs`.
//! - [`domain`]: `Price` (exact decimal), `ProductName`, `Stock`, …, valid by construction.
//! - [`repository`]: the `products` and `reservations` tables in raw SQL (`sql/product/`);
//!   [`reservations`]: the ledger (confirmation of a reservation by its order) and the sweeper
//!   that returns unconfirmed ones to stock.
//! - [`cache`]: cache-aside in Redis that never serves a value older than a returned write,
//!   each replica's short-lived local copies in front of it, listing pages cached by
//!   generation, and the database incarnation every cached value names.
//! - [`Application`]: builds all of it from a [`config::ProductServiceConfig`] and serves it.

mod app;
pub mod cache;
pub mod config;
pub mod domain;
pub mod error;
pub mod metrics;
pub mod repository;
pub mod reservations;
pub mod routes;
pub mod state;

pub use app::{Application, INFO, build, migrations};
