//! The HTTP contract of the User, Product and Order APIs: the bodies clients send and receive,
//! and the bounds their fields must keep.
//!
//! The services read their requests and write their answers with these types, and their
//! clients (the storefront, the Order Service's product client, the auth client) use the same
//! ones, so a renamed or retyped field breaks the build of both sides instead of a request at
//! run time. Request bodies deserialize strictly (unknown fields refused, integers as
//! [`whole_number`]s) and serialize for clients; what a field means beyond its shape (a valid
//! username, a price with two decimals) is checked by the owning service's domain types, from
//! the bounds declared here.
//!
//! With the `openapi` feature every type is also a salvo `ToSchema` whose schema states those
//! bounds ([`schema`]).
//!
//! - [`user`]: registration, login and token validation;
//! - [`product`]: the catalogue and stock reservations;
//! - [`order`]: placing, changing and listing orders.
#![warn(missing_debug_implementations)]

pub mod order;
pub mod product;
#[cfg(feature = "openapi")]
pub mod schema;
pub mod user;
pub mod whole_number;
