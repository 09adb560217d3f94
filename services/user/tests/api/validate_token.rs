use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use test_support::{TEST_JWT_SECRET, UserServiceHandle};
use user_service::domain::Role;

use crate::assert_problem;

async fn validate(users: &UserServiceHandle, token: &str) -> Value {
    let response = users
        .post_json("/validate-token", &json!({ "token": token }))
        .await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn base64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn claims_for(uid: i64, username: &str, role: &str) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({"sub": username, "uid": uid, "role": role, "iat": now, "exp": now + 600, "jti": "x"})
}

#[tokio::test]
async fn a_fresh_token_is_valid_with_user_and_role() {
    let users = UserServiceHandle::start().await;
    let user = users.register("peggy", "password-1").await;
    let token = users.login("peggy", "password-1").await;
    let verdict = validate(&users, &token).await;
    assert_eq!(verdict["valid"], true);
    assert_eq!(verdict["username"], "peggy");
    assert_eq!(verdict["user_id"], user["id"]);
    assert_eq!(verdict["role"], "customer");
    assert!(verdict["expires_at"].as_i64().unwrap() > chrono::Utc::now().timestamp());
}

#[tokio::test]
async fn an_admin_token_reports_the_admin_role() {
    let users = UserServiceHandle::start().await;
    let (_, token) = users.admin().await;
    assert_eq!(validate(&users, &token).await["role"], "admin");
}

#[tokio::test]
async fn an_expired_token_is_invalid() {
    let users = UserServiceHandle::start().await;
    let user = users.register("quinn", "password-1").await;
    let long_ago = chrono::Utc::now().timestamp() - 7200;
    let token = users.token_issued_at(&user, Role::Customer, long_ago);
    let verdict = validate(&users, &token).await;
    assert_eq!(verdict["valid"], false);
    assert_eq!(verdict["message"], "token has expired");
    assert!(verdict["username"].is_null());
}

#[tokio::test]
async fn a_tampered_token_is_invalid() {
    let users = UserServiceHandle::start().await;
    let user = users.register("rupert", "password-1").await;
    users.admin().await;
    let token = users.login("rupert", "password-1").await;
    let parts: Vec<&str> = token.split('.').collect();
    // Same signature, payload upgraded to admin.
    let forged_claims = claims_for(user["id"].as_i64().unwrap(), "rupert", "admin");
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        base64url(forged_claims.to_string().as_bytes()),
        parts[2]
    );
    assert_eq!(validate(&users, &forged).await["valid"], false);
}

#[tokio::test]
async fn alg_none_and_other_algorithms_are_refused() {
    let users = UserServiceHandle::start().await;
    let user = users.register("sybil", "password-1").await;
    let claims = claims_for(user["id"].as_i64().unwrap(), "sybil", "admin");

    let unsigned = format!(
        "{}.{}.",
        base64url(br#"{"alg":"none","typ":"JWT"}"#),
        base64url(claims.to_string().as_bytes())
    );
    assert_eq!(validate(&users, &unsigned).await["valid"], false);

    // Right key, wrong algorithm: only HS256 is accepted.
    let hs512 = jsonwebtoken::encode(
        &Header::new(Algorithm::HS512),
        &claims,
        &EncodingKey::from_secret(TEST_JWT_SECRET.as_bytes()),
    )
    .unwrap();
    assert_eq!(validate(&users, &hs512).await["valid"], false);

    // Right algorithm and key: the control that shows the claims themselves are acceptable.
    let hs256 = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(TEST_JWT_SECRET.as_bytes()),
    )
    .unwrap();
    assert_eq!(validate(&users, &hs256).await["valid"], true);
}

#[tokio::test]
async fn tokens_of_a_deactivated_user_stop_validating() {
    let users = UserServiceHandle::start().await;
    let user = users.register("trent", "password-1").await;
    let token = users.login("trent", "password-1").await;
    assert_eq!(validate(&users, &token).await["valid"], true);
    users
        .state
        .users
        .set_active(user["id"].as_i64().unwrap(), false)
        .await
        .unwrap();
    let verdict = validate(&users, &token).await;
    assert_eq!(verdict["valid"], false);
    assert_eq!(verdict["message"], "user is inactive");
}

#[tokio::test]
async fn garbage_is_invalid_and_a_bad_body_is_a_problem() {
    let users = UserServiceHandle::start().await;
    for token in ["", "not-a-jwt", "a.b.c", &"x".repeat(5000)] {
        assert_eq!(validate(&users, token).await["valid"], false, "{token}");
    }
    let response = users
        .post_json("/validate-token", &json!({"tok": "x"}))
        .await;
    assert_problem(response, 422).await;
    let response = users
        .post_json("/validate-token", &json!({"token": 12}))
        .await;
    assert_problem(response, 422).await;
}
