//! The shared User Service client against the real User Service.

use std::sync::Arc;
use std::time::{Duration, Instant};

use service_runtime::auth::{AuthClient, AuthConfig, AuthError, Role};
use test_support::UserServiceHandle;
use user_service::domain::Role as UserRole;

fn client_for(users: &UserServiceHandle, ttl_secs: u64) -> Arc<AuthClient> {
    AuthClient::new(&AuthConfig {
        user_service_url: users.base_url.clone(),
        auth_cache_ttl_secs: ttl_secs,
        auth_timeout_ms: 1_000,
        ..AuthConfig::default()
    })
    .unwrap()
}

#[tokio::test]
async fn a_valid_token_yields_the_caller_with_role() {
    let users = UserServiceHandle::start().await;
    let (name, token) = users.admin().await;
    let caller = client_for(&users, 0).validate(&token).await.unwrap();
    assert_eq!(caller.username, name);
    assert_eq!(caller.role, Role::Admin);
    assert!(caller.user_id > 0);
}

#[tokio::test]
async fn an_invalid_token_is_refused_with_the_reason() {
    let users = UserServiceHandle::start().await;
    let error = client_for(&users, 30).validate("a.b.c").await.unwrap_err();
    assert_eq!(error, AuthError::InvalidToken("token is invalid".into()));
}

#[tokio::test]
async fn positive_answers_are_cached_and_the_user_service_being_down_is_unavailable() {
    let users = UserServiceHandle::start().await;
    let (_, token) = users.customer().await;
    let (_, other_token) = users.customer().await;
    let client = client_for(&users, 30);
    client.validate(&token).await.unwrap();

    users.stop().await;
    // The cached answer still serves…
    assert_eq!(client.validate(&token).await.unwrap().role, Role::Customer);
    // …but an unknown token needs the User Service, which is gone: 503, quickly, not 401.
    let started = Instant::now();
    assert_eq!(
        client.validate(&other_token).await.unwrap_err(),
        AuthError::Unavailable
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn the_cache_never_outlives_the_token() {
    let users = UserServiceHandle::start().await;
    let user = users.register("short-lived", "password-1").await;
    // A token with 2 s left: cached for at most 2 s even though the cache TTL is 60 s.
    let issued_at = chrono::Utc::now().timestamp() - 3600 + 2;
    let token = users
        .state
        .tokens
        .issue_at(
            user["id"].as_i64().unwrap(),
            "short-lived",
            UserRole::Customer,
            issued_at,
        )
        .unwrap();
    let client = client_for(&users, 60);
    client.validate(&token).await.unwrap();
    test_support::wait_until("the token to expire", Duration::from_secs(15), || async {
        match client.validate(&token).await {
            Err(AuthError::InvalidToken(reason)) => Some(reason),
            _ => None,
        }
    })
    .await;
}
