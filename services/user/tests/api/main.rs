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

use reqwest::Response;
use serde_json::Value;

/// Asserts a problem+json response with `status` and returns its body.
pub async fn assert_problem(response: Response, status: u16) -> Value {
    assert_eq!(response.status(), status, "unexpected status");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().await.expect("problem JSON");
    assert_eq!(body["status"], status);
    assert!(body["title"].is_string());
    assert!(body["type"].is_string());
    body
}
