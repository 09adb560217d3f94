//! The database going away: fast 503s and not-ready, then recovery without a restart.

use std::time::{Duration, Instant};

use serde_json::json;
use test_support::proxy::TcpProxy;
use test_support::{TestDatabase, UserServiceHandle, wait_until};

use crate::assert_problem;

#[tokio::test]
async fn database_down_gives_fast_503s_and_recovers() {
    test_support::init();
    let proxy = TcpProxy::start("127.0.0.1:5432".parse().unwrap()).await;
    // Kept to the end: dropping it drops the database the service created through the proxy.
    let database = TestDatabase::new("users_proxied");
    let url = proxy.rewrite_url(&database.url);
    let users =
        UserServiceHandle::start_with(&[("DATABASE_URL", &url), ("DB_TIMEOUT_MS", "500")]).await;
    users.register("victor", "password-1").await;
    let token = users.login("victor", "password-1").await;

    proxy.cut();
    let started = Instant::now();
    let response = users
        .post_json("/validate-token", &json!({ "token": token }))
        .await;
    let elapsed = started.elapsed();
    let problem = assert_problem(response, 503).await;
    assert_eq!(problem["type"], "urn:problem:unavailable");
    // A hang guard (the pool waits 500 ms): widened several-fold for a loaded CI machine.
    assert!(elapsed < Duration::from_secs(15), "503 took {elapsed:?}");

    let response = users
        .post_json(
            "/register",
            &json!({"username": "wendy", "password": "password-1"}),
        )
        .await;
    assert_problem(response, 503).await;
    // Readiness is served from the background probe (a check a second): it turns soon.
    wait_until(
        "readiness to report the database down",
        Duration::from_secs(10),
        || async {
            let ready = users
                .client
                .get(users.url("/health/ready"))
                .send()
                .await
                .unwrap();
            (ready.status() == 503).then_some(())
        },
    )
    .await;

    proxy.restore();
    wait_until(
        "the service to use the database again",
        Duration::from_secs(10),
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
