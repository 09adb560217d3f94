//! The User Service over HTTP: the real service on a random port against a fresh PostgreSQL
//! database per test.

mod abuse;
mod bootstrap;
mod database_roles;
mod database_tls;
mod login;
mod platform;
mod published_secrets;
mod register;
mod resilience;
mod shutdown;
mod validate_token;

pub use test_support::{assert_problem, assert_problem_type};
