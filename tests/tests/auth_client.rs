//! The shared User Service client against the real User Service.

use std::sync::Arc;

use shop_auth_client::{AuthClient, AuthConfig, AuthError, Role};
use test_support::UserServiceHandle;
use user_service::domain::Role as UserRole;

/// The User Service's default token lifetime (`JWT_TTL_SECS`), which `issue_at` applies.
const JWT_TTL_SECS: i64 = 3600;

fn client_for(users: &UserServiceHandle, ttl_secs: u64) -> Arc<AuthClient> {
    client_with_timeout(users, ttl_secs, 1_000)
}

fn client_with_timeout(
    users: &UserServiceHandle,
    ttl_secs: u64,
    timeout_ms: u64,
) -> Arc<AuthClient> {
    AuthClient::new(&AuthConfig {
        user_service_url: users.base_url.clone(),
        auth_cache_ttl_secs: ttl_secs,
        auth_timeout_ms: timeout_ms,
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
    // A ten-minute validation timeout: "quickly" below means without waiting for it.
    let timeout_ms = test_support::TIMEOUT_BEYOND_GUARD_MS.parse().unwrap();
    let client = client_with_timeout(&users, 30, timeout_ms);
    client.validate(&token).await.unwrap();

    users.stop().await;
    // The cached answer still serves…
    assert_eq!(client.validate(&token).await.unwrap().role, Role::Customer);
    // …but an unknown token needs the User Service, which is gone: 503 at once (the refused
    // connection), not 401, and not after the timeout.
    let refused = test_support::within_hang_guard("validating with the User Service gone", async {
        client.validate(&other_token).await
    })
    .await;
    assert_eq!(refused.unwrap_err(), AuthError::Unavailable);
}

#[tokio::test]
async fn the_cache_never_outlives_the_token() {
    let users = UserServiceHandle::start().await;
    let user = users.register("short-lived", "password-1").await;
    // A token with 10 s left, cached for at most that even though the cache TTL is 10 minutes.
    // Ten seconds, not one or two: the first validation below must come before the expiry
    // however slow the machine, or nothing would be cached.
    let issued_at = chrono::Utc::now().timestamp() - JWT_TTL_SECS + 10;
    let token = users.token_issued_at(&user, UserRole::Customer, issued_at);
    let client = client_for(&users, 600);
    client.validate(&token).await.unwrap();
    test_support::wait_until("the token to expire", test_support::HANG_GUARD, || async {
        match client.validate(&token).await {
            Err(AuthError::InvalidToken(reason)) => Some(reason),
            _ => None,
        }
    })
    .await;
}
