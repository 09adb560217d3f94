//! Live order status for pages: the order events the bridge mirrors onto JetStream, held by
//! this replica and handed to each open page as its user's own updates. Nothing here knows
//! HTTP or how a page shows an event; the storefront turns [`FeedEvent`]s into server-sent
//! events.
//!
//! - [`consumer`]: this replica's durable pull consumer ([`run`] until shutdown, from a
//!   [`Source`]), retrying forever, marking the hub paused meanwhile.
//! - [`hub`]: the [`Hub`] (a broadcast, a ring of recent updates to replay, whether updates
//!   run, the admin's list of recently changed orders) and the [`Follower`] of one page.
//! - [`streams`]: how many feeds are open (capped per user and per replica) and which session
//!   each belongs to, so ending a session ends its feeds.
#![warn(missing_debug_implementations)]

pub mod consumer;
pub mod hub;
pub mod streams;

pub use consumer::{Source, run};
pub use hub::{FeedEvent, Follower, Hub, OrderUpdate};
pub use streams::{Refusal, StreamSlot, Streams};
