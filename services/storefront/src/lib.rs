//! The storefront (port 8006): the web shop people use, server-rendered HTML over the public
//! APIs of the User, Product and Order Services, with order status live from the NATS mirror.
//!
//! - [`config`]: the service URLs, the CSRF key, Redis, the stream and this replica's consumer.
//! - [`api`]: the client of the three APIs; a refusal keeps its problem document.
//! - `session`: the hoop that gives every page its visitor and a refused form the 403 page;
//!   the sessions themselves (the cookie, the CSRF check, the store in Redis, the visitor) are
//!   the `shop_sessions` crate.
//! - `routes`: one module per area (shop, account, orders, live events, admin, assets); live
//!   events serve the feed of the `order_status_feed` crate (this replica's JetStream consumer,
//!   the hub with replay, the caps on open streams) as server-sent events.
//! - [`views`]: the maud templates, and problems turned into sentences.
//! - [`build`]: builds all of it into an [`Application`], the runtime's service host, which
//!   serves, runs the consumer and shuts down.

pub mod api;
mod app;
pub mod config;
mod routes;
mod session;
pub mod views;

pub use app::{Application, INFO, build};
