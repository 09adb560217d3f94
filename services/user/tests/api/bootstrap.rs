//! The bootstrap admin is created once and never promotes, revives or re-keys an account.

use serde_json::json;
use shop_config::ServiceConfig as _;
use test_support::{UserServiceHandle, user_service_settings};
use user_service::Application;
use user_service::config::UserServiceConfig;

const ADMIN_PASSWORD: &str = "first-admin-password";

/// Builds a second instance on `users`' database with the bootstrap settings, as a restart of
/// the service (or another replica starting) would.
async fn restart_with(
    users: &UserServiceHandle,
    username: &str,
    password: &str,
) -> anyhow::Result<Application> {
    let settings = user_service_settings(
        &users.database,
        &[
            ("BOOTSTRAP_ADMIN_USERNAME", username),
            ("BOOTSTRAP_ADMIN_PASSWORD", password),
        ],
    );
    user_service::build(UserServiceConfig::from_settings(settings)?).await
}

#[tokio::test]
async fn a_customer_holding_the_admin_name_is_not_promoted_and_start_up_stops() {
    let users = UserServiceHandle::start().await;
    users
        .register("shop-admin", "customer-chosen-password")
        .await;

    let error = restart_with(&users, "shop-admin", ADMIN_PASSWORD)
        .await
        .expect_err("start-up must refuse to promote a customer");
    let message = format!("{error:#}");
    assert!(message.contains("BOOTSTRAP_ADMIN_USERNAME"), "{message}");
    assert!(message.contains("not an admin"), "{message}");

    let account = users
        .state
        .users
        .find_by_username("shop-admin")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account.role.as_str(), "customer");
    let token = users.login("shop-admin", "customer-chosen-password").await;
    let verdict: serde_json::Value = users
        .post_json("/validate-token", &json!({ "token": token }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(verdict["role"], "customer");
}

#[tokio::test]
async fn a_deactivated_bootstrap_admin_stays_deactivated_after_a_restart() {
    let users = UserServiceHandle::start().await;
    restart_with(&users, "root-admin", ADMIN_PASSWORD)
        .await
        .expect("the admin is created");
    let admin = users
        .state
        .users
        .find_by_username("root-admin")
        .await
        .unwrap()
        .unwrap();
    assert!(users.state.users.set_active(admin.id, false).await.unwrap());

    restart_with(&users, "root-admin", ADMIN_PASSWORD)
        .await
        .expect("a restart with the same settings starts");
    let after = users
        .state
        .users
        .find_by_username("root-admin")
        .await
        .unwrap()
        .unwrap();
    assert!(!after.is_active, "the restart revived a deactivated admin");
    let response = users.post_login("root-admin", ADMIN_PASSWORD).await;
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn a_restart_keeps_the_stored_password_and_hash() {
    let users = UserServiceHandle::start().await;
    restart_with(&users, "root-admin", ADMIN_PASSWORD)
        .await
        .expect("the admin is created");
    let before = users
        .state
        .users
        .find_by_username("root-admin")
        .await
        .unwrap()
        .unwrap();

    restart_with(&users, "root-admin", "a-new-password-in-the-env")
        .await
        .expect("a restart starts");
    let after = users
        .state
        .users
        .find_by_username("root-admin")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(before.hashed_password, after.hashed_password);
    assert_eq!(
        before.updated_at, after.updated_at,
        "the row was not written"
    );
    users.login("root-admin", ADMIN_PASSWORD).await;
}
