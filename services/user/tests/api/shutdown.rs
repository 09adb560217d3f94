//! SIGTERM to the real binary under the production profile, over real HTTP: the request in
//! flight gets its whole answer, nobody new gets in, and the process exits 0 in time.
//!
//! The request in flight is a registration whose body the test sends in two halves over a raw
//! TCP connection: the handler is running (waiting for the rest of the body) for exactly as
//! long as the test wants, whatever the machine's speed.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use test_support::{TestDatabase, free_port, wait_until};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(30);
/// The drain deadline the binary is given; its exit is awaited a little longer.
const DRAIN_SECS: u64 = 10;

fn metric(text: &str, sample: &str) -> f64 {
    test_support::notification::metric_value(text, sample)
}

#[tokio::test]
async fn sigterm_lets_the_request_in_flight_finish_and_refuses_new_connections() {
    let database = TestDatabase::new("users_sigterm");
    let port = free_port();
    let secret = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let prefix = format!("test-sigterm-{}:", uuid::Uuid::new_v4().simple());
    let drain = DRAIN_SECS.to_string();
    let port_text = port.to_string();
    let mut service = tokio::process::Command::new(env!("CARGO_BIN_EXE_user-service"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs([
            ("APP_PROFILE", "production"),
            ("LOG_LEVEL", "warn"),
            ("HOST", "127.0.0.1"),
            ("PORT", port_text.as_str()),
            ("DATABASE_URL", database.url.as_str()),
            ("JWT_SECRET", secret.as_str()),
            ("REDIS_URL", "redis://127.0.0.1:6379"),
            ("THROTTLE_KEY_PREFIX", prefix.as_str()),
            ("SHUTDOWN_TIMEOUT_SECS", drain.as_str()),
        ])
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the service binary starts");
    let base = format!("http://127.0.0.1:{port}");
    let client = test_support::http_client();
    wait_until("the service to be ready", WAIT, || async {
        let response = client
            .get(format!("{base}/health/ready"))
            .send()
            .await
            .ok()?;
        (response.status() == 200).then_some(())
    })
    .await;

    let body = br#"{"username": "slow-body", "password": "password-1"}"#;
    let (first_half, second_half) = body.split_at(body.len() / 2);
    let mut registering = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("the service accepts a connection");
    let head = format!(
        "POST /register HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    registering.write_all(head.as_bytes()).await.unwrap();
    registering.write_all(first_half).await.unwrap();
    // In flight: the registration, and the metrics request that sees it.
    wait_until("the registration in flight", WAIT, || async {
        let text = client
            .get(format!("{base}/metrics"))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        (metric(&text, "http_requests_in_flight") >= 2.0).then_some(())
    })
    .await;

    let pid = service.id().expect("the service runs").to_string();
    let signalled = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(signalled.success());
    // A new connection (not one from the pool) after the signal gets no answer.
    wait_until("new connections to be refused", WAIT, || async {
        let fresh = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        fresh
            .get(format!("{base}/health/live"))
            .send()
            .await
            .is_err()
            .then_some(())
    })
    .await;

    // The rest of the body, after the listener closed: the registration completes.
    registering.write_all(second_half).await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(WAIT, registering.read_to_string(&mut answer))
        .await
        .expect("the answer arrives")
        .expect("the answer reads whole");
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    let (_, json) = answer.split_once("\r\n\r\n").expect("headers, then a body");
    let user: Value = serde_json::from_str(json).expect("a complete JSON body");
    assert_eq!(user["username"], "slow-body");
    let status = tokio::time::timeout(Duration::from_secs(DRAIN_SECS + 5), service.wait())
        .await
        .expect("the service exits within its drain deadline")
        .expect("exit status");
    assert!(status.success(), "{status}");
}
