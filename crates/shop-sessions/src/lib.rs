//! The shop's browser sessions, for server-rendered pages: who is shopping, and proof that a
//! form was posted from one of the shop's own pages. The browser holds an opaque cookie; the
//! User Service's token stays in Redis, shared by every replica. What a page shows, and what a
//! refused form gets, is the caller's.
//!
//! - [`sessions`]: [`Sessions`], the cookies (`HttpOnly`, `SameSite=Lax`, [`SecureCookies`]),
//!   the signed double-submit CSRF check of every POST ([`Sessions::visit`], refusing with
//!   [`CsrfMismatch`]), logging in (always a new id) and out.
//! - [`store`]: the [`SessionStore`] in Redis, and the announcement of sessions that end on
//!   any replica ([`SessionStore::follow_ended`]).
//! - [`visitor`]: the [`Visitor`] every page renders for, and the [`CSRF_FIELD`] of its forms.
#![warn(missing_debug_implementations)]

pub mod sessions;
pub mod store;
pub mod visitor;

pub use sessions::{CsrfMismatch, SecureCookies, Sessions};
pub use store::{SessionStore, StoreUnavailable};
pub use visitor::{CSRF_FIELD, Visitor};
