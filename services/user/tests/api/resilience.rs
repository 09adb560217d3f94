//! The database going away: fast 503s and not-ready, then recovery without a restart.

use serde_json::json;
use test_infra::proxy::TcpProxy;
use test_support::{TestDatabase, UserServiceHandle, wait_until};

use crate::{assert_problem, assert_problem_type};

#[tokio::test]
async fn database_down_gives_fast_503s_and_recovers() {
    test_support::init();
    let proxy = TcpProxy::start("127.0.0.1:5432".parse().unwrap()).await;
    // Kept to the end: dropping it drops the database the service created through the proxy.
    let database = TestDatabase::new("users_proxied");
    let url = proxy.rewrite_url(&database.url);
    // The pool's timeouts are ten minutes: a 503 that waited for them would trip the test
    // client's own timeout (30 s); the fast one comes from the refused connection.
    let users = UserServiceHandle::start_with(&[
        ("DATABASE_URL", &url),
        ("DB_TIMEOUT_MS", test_support::TIMEOUT_BEYOND_GUARD_MS),
    ])
    .await;
    users.register("victor", "password-1").await;
    let token = users.login("victor", "password-1").await;

    proxy.cut();
    let response = users
        .post_json("/validate-token", &json!({ "token": token }))
        .await;
    assert_problem_type(response, 503, "urn:problem:unavailable").await;

    let response = users.post_register("wendy", "password-1").await;
    assert_problem(response, 503).await;
    // Readiness is served from the background probe (a check a second): it turns soon.
    wait_until(
        "readiness to report the database down",
        test_support::HANG_GUARD,
        || async {
            let ready = users.get("/health/ready").await;
            (ready.status() == 503).then_some(())
        },
    )
    .await;

    proxy.restore();
    wait_until(
        "the service to use the database again",
        test_support::HANG_GUARD,
        || async {
            let response = users
                .post_json("/validate-token", &json!({ "token": token }))
                .await;
            (response.status() == 200).then_some(())
        },
    )
    .await;
    users.stop().await;
    drop(database);
}
