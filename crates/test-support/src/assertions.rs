//! Requests and assertions every service's tests make the same way.

use reqwest::Response;
use serde_json::Value;

/// Asserts that `response` is an RFC 9457 problem document with `status` (the status line, the
/// `application/problem+json` type and the body's own `status`, `title` and `type`), and returns
/// its body for the test's own checks.
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

/// [`assert_problem`], and that the problem is of type `problem_type` (`urn:problem:…`).
pub async fn assert_problem_type(response: Response, status: u16, problem_type: &str) -> Value {
    let body = assert_problem(response, status).await;
    assert_eq!(body["type"], problem_type, "{body}");
    body
}

/// Asserts that each of `responses` (to requests racing for something scarce) is either 201
/// Created or a 409 problem document of type `conflict_type`, and returns how many are 201.
pub async fn count_created(responses: Vec<Response>, conflict_type: &str) -> usize {
    let mut created = 0;
    for response in responses {
        match response.status().as_u16() {
            201 => created += 1,
            409 => {
                assert_problem_type(response, 409, conflict_type).await;
            }
            other => panic!(
                "unexpected status {other}: {}",
                response.text().await.unwrap_or_default()
            ),
        }
    }
    created
}

/// `GET url`, whatever its status; panics naming the URL when there is no answer.
pub async fn get(client: &reqwest::Client, url: &str) -> Response {
    client
        .get(url)
        .send()
        .await
        .unwrap_or_else(|error| panic!("GET {url}: {error}"))
}

/// The JSON body of `GET url`, whatever its status; panics naming the URL when there is no
/// answer or no JSON.
pub async fn get_json(client: &reqwest::Client, url: &str) -> Value {
    let response = get(client, url).await;
    let status = response.status();
    response
        .json()
        .await
        .unwrap_or_else(|error| panic!("GET {url} answered {status} without JSON: {error}"))
}
