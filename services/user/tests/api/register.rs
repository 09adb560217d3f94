use futures_util::future::join_all;
use serde_json::json;
use test_support::UserServiceHandle;

use crate::{assert_problem, assert_problem_type};

#[tokio::test]
async fn register_returns_the_account_without_the_hash() {
    let users = UserServiceHandle::start().await;
    let response = users.post_register("Alice", "password-1").await;
    assert_eq!(response.status(), 201);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["username"], "Alice");
    assert_eq!(body["role"], "customer");
    assert_eq!(body["is_active"], true);
    assert!(body["id"].as_i64().unwrap() > 0);
    assert!(body["created_at"].is_string() && body["updated_at"].is_string());
    let text = body.to_string();
    assert!(
        !text.contains("hashed_password") && !text.contains("$2b$"),
        "{text}"
    );
}

#[tokio::test]
async fn usernames_are_unique_regardless_of_case() {
    let users = UserServiceHandle::start().await;
    users.register("Carol", "password-1").await;
    let response = users.post_register("cAROL", "password-2").await;
    assert_problem_type(response, 409, "urn:problem:username-taken").await;
}

#[tokio::test]
async fn concurrent_registrations_of_one_name_create_one_account() {
    let users = UserServiceHandle::start().await;
    let attempts = (0..8).map(|i| {
        let name = if i % 2 == 0 { "dave" } else { "DAVE" };
        let users = &users;
        async move {
            let body = json!({"username": name, "password": "password-1"});
            users.post_json("/register", &body).await
        }
    });
    let statuses: Vec<u16> = join_all(attempts)
        .await
        .iter()
        .map(|response| response.status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        7,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn invalid_fields_are_422_naming_each_field() {
    let users = UserServiceHandle::start().await;
    let cases = [
        (
            json!({"username": "ab", "password": "password-1"}),
            vec!["username"],
        ),
        (
            json!({"username": "a".repeat(51), "password": "password-1"}),
            vec!["username"],
        ),
        (
            json!({"username": "bob smith", "password": "password-1"}),
            vec!["username"],
        ),
        (
            json!({"username": "robert'); DROP TABLE users;--", "password": "password-1"}),
            vec!["username"],
        ),
        (
            json!({"username": "bobby", "password": "short"}),
            vec!["password"],
        ),
        (
            json!({"username": "bobby", "password": "x".repeat(73)}),
            vec!["password"],
        ),
        (
            json!({"username": "bobby", "password": "€".repeat(25)}),
            vec!["password"],
        ),
        (
            json!({"username": "b", "password": "p"}),
            vec!["username", "password"],
        ),
    ];
    for (body, fields) in cases {
        let problem = assert_problem(users.post_json("/register", &body).await, 422).await;
        let named: Vec<&str> = problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|error| error["field"].as_str().unwrap())
            .collect();
        assert_eq!(named, fields, "for {body}");
    }
}

#[tokio::test]
async fn a_72_byte_password_is_accepted_and_its_last_byte_matters() {
    let users = UserServiceHandle::start().await;
    let password = "p".repeat(71) + "1";
    users.register("erin", &password).await;
    users.login("erin", &password).await;
    let wrong = "p".repeat(71) + "2";
    let response = users.post_login("erin", &wrong).await;
    assert_problem(response, 401).await;
}

#[tokio::test]
async fn malformed_bodies_are_4xx_problems() {
    let users = UserServiceHandle::start().await;
    let url = users.url("/register");
    let send = |body: &'static str, content_type: &'static str| {
        users
            .client
            .post(&url)
            .header("content-type", content_type)
            .body(body)
    };
    let malformed = send("{\"username\": \"x", "application/json")
        .send()
        .await
        .unwrap();
    assert_problem_type(malformed, 400, "urn:problem:malformed-json").await;

    let missing = send("{\"username\": \"frank\"}", "application/json")
        .send()
        .await
        .unwrap();
    let problem = assert_problem(missing, 422).await;
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("password")
    );

    let wrong_type = send(
        "{\"username\": 42, \"password\": \"password-1\"}",
        "application/json",
    )
    .send()
    .await
    .unwrap();
    assert_eq!(
        assert_problem(wrong_type, 422).await["errors"][0]["field"],
        "username"
    );

    let unknown_field = send(
        "{\"username\": \"frank\", \"password\": \"password-1\", \"role\": \"admin\"}",
        "application/json",
    )
    .send()
    .await
    .unwrap();
    assert_problem(unknown_field, 422).await;

    let not_json = send("username=frank", "text/plain").send().await.unwrap();
    assert_problem(not_json, 415).await;

    let empty = send("", "application/json").send().await.unwrap();
    assert_problem(empty, 400).await;
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let users = UserServiceHandle::start_with(&[("MAX_BODY_BYTES", "1024")]).await;
    let body = json!({"username": "grace", "password": "x".repeat(4096)});
    assert_problem_type(
        users.post_json("/register", &body).await,
        413,
        "urn:problem:body-too-large",
    )
    .await;
}
