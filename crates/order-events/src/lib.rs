//! The order event contract, written once: what the Order Service publishes, what the
//! Notification Service and the event bridge consume, and what the tests publish in their
//! place. `docs/events.md` explains it; `docs/events.schema.json` and `docs/asyncapi.json` are
//! generated from these types ([`docs`]) and a test fails when they drift.
//!
//! - [`status`]: [`OrderStatus`], the order's place in its lifecycle.
//! - [`money`]: [`Money`], an exact amount as a decimal string with two places.
//! - [`envelope`]: [`OrderEvent`] (the body), [`OrderSnapshot`], [`EventType`] (also the
//!   routing key), [`SCHEMA_VERSION`], encoding and the strict [`decode`].
//! - [`wire`]: where events travel and how they are labelled: the exchange, message
//!   properties, header names, and the NATS subjects and headers of the bridge.
//! - [`docs`]: the JSON Schema and AsyncAPI 3.0 documents.

pub mod docs;
pub mod envelope;
pub mod money;
pub mod status;
pub mod wire;

pub use envelope::{EventType, OrderEvent, OrderSnapshot, Rejection, SCHEMA_VERSION, decode};
pub use money::Money;
pub use status::OrderStatus;
