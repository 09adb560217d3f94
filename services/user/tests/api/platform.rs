//! What every service gets from the runtime, checked on the User Service.

use std::time::Duration;

use serde_json::{Value, json};
use shop_config::ServiceConfig as _;
use shop_config::Settings;
use shop_postgres::MIGRATION_LOCK;
use test_support::{POSTGRES_URL, TestDatabase, UserServiceHandle, user_service_settings};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use user_service::config::UserServiceConfig;

use crate::assert_problem;

#[tokio::test]
async fn health_reports_service_version_and_database() {
    let users = UserServiceHandle::start().await;
    let response = users.get("/health").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "healthy");
    assert_eq!(body["service"], "user-service");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(body["dependencies"]["database"]["status"], "up");
    // Up or down only: latencies are in the metrics, error text in the logs.
    assert_eq!(
        body["dependencies"]["database"],
        serde_json::json!({"status": "up", "required": true})
    );

    for (path, answer) in [
        ("/health/live", json!({"status": "alive"})),
        (
            "/health/ready",
            json!({"ready": true, "draining": false, "status": "healthy"}),
        ),
    ] {
        let response = users.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/json; charset=utf-8",
            "{path}"
        );
        assert_eq!(response.json::<Value>().await.unwrap(), answer, "{path}");
    }
}

#[tokio::test]
async fn metrics_label_requests_by_route_template() {
    let users = UserServiceHandle::start().await;
    users.register("uma", "password-1").await;
    users.get("/no/such/thing/42").await;
    let text = users.metrics().await;
    assert!(
        text.contains(r#"http_requests_total{method="POST",route="/register",status="201"} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"route="unmatched",status="404""#));
    assert!(
        !text.contains("/no/such/thing"),
        "raw paths must not become labels"
    );
    assert!(text.contains("http_request_duration_seconds_bucket"));
    assert!(text.contains("http_requests_in_flight"));
    assert!(text.contains(r#"db_pool_connections{state="idle"}"#));
    assert!(text.contains("users_registered_total 1"));
}

#[tokio::test]
async fn openapi_documents_every_route_with_problem_responses() {
    let users = UserServiceHandle::start().await;
    let document: Value = users.get_json("/openapi.json").await;
    for path in ["/register", "/login", "/validate-token"] {
        let operation = &document["paths"][path]["post"];
        assert!(
            operation["requestBody"].is_object(),
            "{path} documents its body"
        );
        let responses = operation["responses"].as_object().unwrap();
        assert!(responses.keys().any(|code| code.starts_with('2')), "{path}");
        assert!(
            responses["422"]["content"]["application/problem+json"].is_object(),
            "{path} documents problem responses"
        );
    }
    assert!(document["paths"]["/login"]["post"]["responses"]["429"].is_object());
    assert!(document["components"]["schemas"].as_object().unwrap().len() >= 5);

    let docs = users.get("/docs/").await;
    assert_eq!(docs.status(), 200);
    assert!(docs.text().await.unwrap().contains("swagger"));
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_are_problems() {
    let users = UserServiceHandle::start().await;
    let response = users.get("/nothing-here").await;
    assert_problem(response, 404).await;
    let response = users.get("/login").await;
    assert_eq!(response.headers()["allow"], "POST");
    assert_problem(response, 405).await;
}

#[tokio::test]
async fn the_callers_trace_continues_in_the_service() {
    let users = UserServiceHandle::start().await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let response = users
        .client
        .post(users.url("/login"))
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .json(&json!({"username": "nobody", "password": "password-1"}))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(response, 401).await;
    assert_eq!(problem["trace_id"], trace_id);
}

#[tokio::test]
async fn a_trace_context_relayed_from_a_client_is_not_continued() {
    let users = UserServiceHandle::start().await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let response = users
        .client
        .post(users.url("/login"))
        // As the gateway passes on a public client's request: relayed, so not a peer's.
        .header("x-forwarded-for", "203.0.113.7")
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .header("tracestate", "vendor=chosen-by-the-client")
        .json(&json!({"username": "nobody", "password": "password-1"}))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(response, 401).await;
    let own = problem["trace_id"].as_str().expect("a trace id of its own");
    assert_eq!(own.len(), 32);
    assert_ne!(own, trace_id, "the client chose the trace");
}

#[tokio::test]
async fn the_bootstrap_admin_is_created_and_can_log_in() {
    let users = UserServiceHandle::start_with(&[
        ("BOOTSTRAP_ADMIN_USERNAME", "root-admin"),
        ("BOOTSTRAP_ADMIN_PASSWORD", "root-password"),
    ])
    .await;
    let token = users.login("root-admin", "root-password").await;
    let verdict: Value = users
        .post_json("/validate-token", &json!({ "token": token }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(verdict["role"], "admin");
}

/// Replicas starting together must apply each migration once. The test holds the migration lock
/// itself, so that all three are certainly waiting for it at the same moment (rather than by
/// luck of scheduling); none may touch the schema while it is held, and once it is released
/// each migration is applied by exactly one of them and recorded once.
#[tokio::test]
async fn replicas_starting_together_migrate_once() {
    let (logs, _guard) = test_support::logs::capture_json_logs("user-service");
    let database = TestDatabase::new("replicas");
    let admin = test_support::database_client(&format!("{POSTGRES_URL}/postgres")).await;
    admin
        .batch_execute(&format!("CREATE DATABASE \"{}\"", database.name))
        .await
        .unwrap();
    let holder = test_support::database_client(&database.url).await;
    holder
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .unwrap();

    let build = || async {
        let config = UserServiceConfig::from_settings(user_service_settings(&database, &[]))
            .expect("config");
        user_service::build(config).await
    };
    let replicas = async { tokio::join!(build(), build(), build()) };
    let release = async {
        test_support::wait_until(
            "three replicas waiting for the migration lock",
            Duration::from_secs(60),
            || async {
                assert!(
                    !migration_history_exists(&holder).await,
                    "a replica migrated while the migration lock was held"
                );
                (migration_lock_waiters(&holder).await == 3).then_some(())
            },
        )
        .await;
        holder
            .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
            .await
            .unwrap();
    };
    let ((a, b, c), ()) = tokio::join!(replicas, release);
    for app in [a, b, c] {
        app.expect("every replica starts");
    }

    let mut expected: Vec<i32> = user_service::migrations()
        .get_migrations()
        .iter()
        .map(|migration| migration.version())
        .collect();
    expected.sort_unstable();
    let recorded: Vec<i32> = holder
        .query(
            "SELECT version FROM refinery_schema_history ORDER BY version",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(recorded, expected, "each migration recorded once");
    let applied = logs
        .lines()
        .into_iter()
        .filter(|line| line["message"] == "applied migration")
        .count();
    assert_eq!(
        applied,
        expected.len(),
        "each migration applied by one replica"
    );
}

async fn migration_history_exists(client: &tokio_postgres::Client) -> bool {
    client
        .query_one(
            "SELECT to_regclass('refinery_schema_history') IS NOT NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

/// Sessions of this database queued for an advisory lock: only the migration lock is taken here.
async fn migration_lock_waiters(client: &tokio_postgres::Client) -> i64 {
    client
        .query_one(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted \
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn shutdown_drains_within_the_deadline_despite_an_idle_keep_alive_client() {
    let users = UserServiceHandle::start_with(&[("SHUTDOWN_TIMEOUT_SECS", "2")]).await;
    // A client that made one request and then keeps its connection open, idle.
    let mut idle = tokio::net::TcpStream::connect(users.address).await.unwrap();
    idle.write_all(b"GET /health/live HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    let mut buffer = [0_u8; 512];
    let read = idle.read(&mut buffer).await.unwrap();
    assert!(String::from_utf8_lossy(&buffer[..read]).starts_with("HTTP/1.1 200"));

    // A server that waited for idle connections to go would never stop: `stop` gives up after
    // its hang guard and fails the test.
    users.stop().await;
    let closed =
        test_support::within_hang_guard("the idle connection to close", idle.read(&mut buffer))
            .await
            .expect("the read ends cleanly");
    assert_eq!(closed, 0, "the server closed the idle client's connection");
}

#[tokio::test]
async fn a_bad_setting_stops_start_up_naming_the_key() {
    let error = UserServiceConfig::from_settings(Settings::from_pairs([
        ("JWT_SECRET", "x".repeat(40)),
        (
            "DATABASE_URL",
            "postgres://postgres@127.0.0.1:5432/users".to_owned(),
        ),
        ("REDIS_URL", test_support::REDIS_URL.to_owned()),
        ("DB_POOL_MAX_SIZE", "many".to_owned()),
    ]))
    .unwrap_err();
    assert_eq!(error.key, "DB_POOL_MAX_SIZE");
}

/// The binary, not the library: a bad setting stops it before it serves, naming the key.
#[tokio::test]
async fn the_binary_refuses_a_bad_setting_naming_it() {
    let binary = env!("CARGO_BIN_EXE_user-service");
    test_infra::startup::assert_refuses_setting(binary, "PORT", "eighty").await;
    test_infra::startup::assert_refuses_setting(binary, "BCRYPT_COST", "99").await;
}
