use serde_json::Value;
use test_support::UserServiceHandle;

use crate::{assert_problem, assert_problem_type};

#[tokio::test]
async fn login_with_json_returns_a_bearer_token() {
    let users = UserServiceHandle::start_with(&[("JWT_TTL_SECS", "900")]).await;
    users.register("heidi", "password-1").await;
    let response = users.post_login("heidi", "password-1").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["access_token"].as_str().unwrap().split('.').count(), 3);
}

#[tokio::test]
async fn login_accepts_the_oauth2_password_form_and_any_username_case() {
    let users = UserServiceHandle::start().await;
    users.register("Ivan", "password-1").await;
    let response = users
        .client
        .post(users.url("/login"))
        .form(&[
            ("grant_type", "password"),
            ("username", "ivan"),
            ("password", "password-1"),
            ("scope", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert!(body["access_token"].is_string());
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_401() {
    let users = UserServiceHandle::start().await;
    users.register("judy", "password-1").await;
    let wrong = users.post_login("judy", "password-2").await;
    let unknown = users.post_login("nobody", "password-2").await;
    let mut wrong = assert_problem(wrong, 401).await;
    let mut unknown = assert_problem(unknown, 401).await;
    for body in [&mut wrong, &mut unknown] {
        body.as_object_mut().unwrap().remove("trace_id");
    }
    assert_eq!(wrong, unknown);
}

/// An unknown username costs a full bcrypt check at the configured cost, like a wrong
/// password: skipping it, or checking against a cheaper hash, would let response time tell
/// which usernames exist. Counted, not timed: the service counts each finished check by the
/// cost its hash announces.
#[tokio::test]
async fn an_unknown_user_costs_a_full_password_check_like_a_wrong_password() {
    const CHECKS: &str = r#"user_password_checks_total{cost="10"}"#;
    let users =
        UserServiceHandle::start_with(&[("BCRYPT_COST", "10"), ("LOGIN_MAX_FAILURES", "1000")])
            .await;
    users.register("kim", "password-1").await;
    let mut seen = users.served_metric(CHECKS).await;
    for username in ["kim", "nobody-here", "kim", "nobody-here"] {
        let response = users.post_login(username, "wrong-password").await;
        assert_eq!(response.status(), 401);
        let checks = users.served_metric(CHECKS).await;
        assert_eq!(
            checks,
            seen + 1.0,
            "a failed login for {username} ran one check at cost 10"
        );
        seen = checks;
    }
}

#[tokio::test]
async fn repeated_failures_for_one_username_are_throttled_with_retry_after() {
    let users = UserServiceHandle::start_with(&[
        ("LOGIN_MAX_FAILURES", "3"),
        ("LOGIN_FAILURE_WINDOW_SECS", "600"),
    ])
    .await;
    users.register("leo", "password-1").await;
    for _ in 0..3 {
        let response = users.post_login("leo", "wrong-pass").await;
        assert_problem(response, 401).await;
    }
    // Even the right password is refused while locked: the lock is what stops guessing.
    let response = users.post_login("LEO", "password-1").await;
    let retry_after: u64 = response
        .headers()
        .get("retry-after")
        .expect("Retry-After header")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=600).contains(&retry_after), "{retry_after}");
    assert_problem_type(response, 429, "urn:problem:too-many-login-failures").await;
}

#[tokio::test]
async fn failures_across_usernames_from_one_client_are_throttled() {
    let users = UserServiceHandle::start_with(&[("LOGIN_MAX_FAILURES_PER_CLIENT", "4")]).await;
    users.register("mallory", "password-1").await;
    for i in 0..4 {
        let response = users
            .post_login(&format!("victim-{i}"), "guess-guess")
            .await;
        assert_problem(response, 401).await;
    }
    let response = users.post_login("mallory", "password-1").await;
    assert_problem(response, 429).await;
}

#[tokio::test]
async fn a_successful_login_clears_the_usernames_failures_from_that_client() {
    let users = UserServiceHandle::start_with(&[("LOGIN_MAX_FAILURES", "3")]).await;
    users.register("nina", "password-1").await;
    for _ in 0..2 {
        let response = users.post_login("nina", "wrong-pass").await;
        assert_problem(response, 401).await;
    }
    users.login("nina", "password-1").await;
    let key = format!(
        "{}login:user:nina:127.0.0.1",
        test_support::throttle_key_prefix(&users.database)
    );
    let mut redis = redis::Client::open(test_support::REDIS_URL)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let exists: bool = redis::cmd("EXISTS")
        .arg(&key)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(!exists, "the username's attempts were not cleared");
    // The client's two failures still count, its success does not: a third try is allowed.
    users.login("nina", "password-1").await;
}

#[tokio::test]
async fn a_deactivated_account_cannot_log_in() {
    let users = UserServiceHandle::start().await;
    let user = users.register("oscar", "password-1").await;
    let id = user["id"].as_i64().unwrap();
    assert!(users.state.users.set_active(id, false).await.unwrap());
    let response = users.post_login("oscar", "password-1").await;
    assert_problem(response, 401).await;
}
