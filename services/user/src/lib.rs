//! The User Service: registration, login and JWT validation for the shop (port 8001).
//!
//! - [`routes`]: `POST /register`, `POST /login`, `POST /validate-token`; the runtime adds
//!   `/health*`, `/metrics`, `/openapi.json` and `/docs`.
//! - [`domain`]: `Username`, `Password`, `Role`, valid by construction.
//! - [`repository`]: the `users` table in raw SQL (migrations in `sql/user/`).
//! - [`bootstrap`]: the first admin, created once and never promoted or revived.
//! - [`password`]: bcrypt on the blocking pool, bounded; [`tokens`]: HS256 JWTs;
//!   [`limiter`]: login attempts (per username from one client, and per client) and
//!   registrations (per client) counted in Redis for every replica, with [`throttle`] as each
//!   replica's own fallback; the client is the one `shop_http::client_addr` finds.
//! - [`Application`]: builds all of it from a [`config::UserServiceConfig`] and serves it.

mod app;
pub mod bootstrap;
pub mod config;
pub mod domain;
pub mod error;
pub mod limiter;
pub mod metrics;
pub mod password;
pub mod repository;
pub mod routes;
pub mod state;
pub mod throttle;
pub mod tokens;

pub use app::{Application, INFO, build, migrations};
