//! The transactional outbox. Its store ([`store`]) appends each event inside the transaction
//! that changes the order, so an event exists exactly when the change does; its relay
//! ([`relay`]) publishes them to RabbitMQ, in order per order, each marked published only after
//! the broker confirmed it.
//!
//! The relay's parts: [`listener`] (the LISTEN connection that wakes it on commit), [`claim`]
//! (the SQL that hands a batch to one relay), [`publisher`] (publishing with confirms),
//! [`trace`] (continuing the trace of the request that wrote the event) and [`health`] (the
//! backlog on `/health`; the gauge is set by the relay).

pub mod claim;
pub mod health;
pub mod listener;
pub mod publisher;
pub mod relay;
pub mod store;
pub mod trace;

pub use health::OutboxCheck;
pub use relay::{OutboxRelay, RelayError};
pub use store::{Backlog, OUTBOX_CHANNEL, append_event};
