//! The Order Service's transactional outbox. Its store ([`store`]) appends each event inside
//! the transaction that changes the order, so an event exists exactly when the change does; its
//! relay ([`relay`]) publishes them to RabbitMQ, in order per order, each marked published only
//! after the broker confirmed it.
//!
//! What it expects of the database (the migrations stay with the service, in `sql/order/`): a
//! table `outbox` with `id` (identity, the publishing order), `event_id`, `aggregate_id` (the
//! order), `event_type`, `payload`, `traceparent`, `tracestate`, `created_at`, `published_at`,
//! `attempts` and `last_error`, which the pool's role reads, inserts into and updates. Every
//! append notifies [`OUTBOX_CHANNEL`] and the relay listens on it (over its own connection, to
//! the database the pool uses). Purging published rows is the service's housekeeping, not this
//! crate's.
//!
//! - [`store`]: [`append_event`] in the caller's transaction (with its `NOTIFY`), and the
//!   [`Backlog`].
//! - [`relay`]: [`OutboxRelay`], the loop that drains the outbox batch by batch; its parts:
//!   [`listener`] (the LISTEN connection that wakes it on commit), [`claim`] (the SQL that hands
//!   a batch to one relay), [`publisher`] (publishing with confirms) and [`trace`] (continuing
//!   the trace of the request that wrote the event).
//! - [`health`]: [`OutboxCheck`], the backlog on `/health`.
//! - [`metrics`]: [`OutboxMetrics`], the `outbox_*` series the relay records, on the service's
//!   registry.

#![warn(missing_debug_implementations)]

pub mod claim;
pub mod health;
pub mod listener;
pub mod metrics;
pub mod publisher;
pub mod relay;
pub mod store;
pub mod trace;

pub use health::OutboxCheck;
pub use metrics::OutboxMetrics;
pub use relay::{OutboxRelay, RelayError};
pub use store::{Backlog, OUTBOX_CHANNEL, append_event};
