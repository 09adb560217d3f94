//! SIGTERM to the real binary under the production profile, over real HTTP: the request in
//! flight gets its whole answer, nobody new gets in, and the process exits 0 in time.
//!
//! The request in flight is a registration whose body the test sends in two halves over a raw
//! TCP connection: the handler is running (waiting for the rest of the body) for exactly as
//! long as the test wants, whatever the machine's speed.

use serde_json::Value;
use test_infra::process::ServiceProcess;
use test_support::{HANG_GUARD, TEST_JWT_SECRET, TestDatabase, wait_until};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn sigterm_lets_the_request_in_flight_finish_and_refuses_new_connections() {
    let database = TestDatabase::new("users_sigterm");
    let prefix = format!("test-sigterm-{}:", uuid::Uuid::new_v4().simple());
    let service = ServiceProcess::start(
        env!("CARGO_BIN_EXE_user-service"),
        &[
            ("DATABASE_URL", database.url.clone()),
            ("JWT_SECRET", TEST_JWT_SECRET.clone()),
            ("REDIS_URL", test_support::REDIS_URL.to_owned()),
            ("THROTTLE_KEY_PREFIX", prefix),
            // Far beyond the hang guard: only the request finishing can end the drain.
            ("SHUTDOWN_TIMEOUT_SECS", "600".to_owned()),
        ],
    )
    .await;

    let body = br#"{"username": "slow-body", "password": "password-1"}"#;
    let (first_half, second_half) = body.split_at(body.len() / 2);
    let mut registering = TcpStream::connect(("127.0.0.1", service.port))
        .await
        .expect("the service accepts a connection");
    let head = format!(
        "POST /register HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    registering.write_all(head.as_bytes()).await.unwrap();
    registering.write_all(first_half).await.unwrap();
    service.wait_in_flight(1.0).await;

    service.terminate().await;
    wait_until("new connections to be refused", HANG_GUARD, || async {
        service.refuses_connections().await.then_some(())
    })
    .await;

    // The rest of the body, after the listener closed: the registration completes.
    registering.write_all(second_half).await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(HANG_GUARD, registering.read_to_string(&mut answer))
        .await
        .expect("the answer arrives")
        .expect("the answer reads whole");
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    let (_, json) = answer.split_once("\r\n\r\n").expect("headers, then a body");
    let user: Value = serde_json::from_str(json).expect("a complete JSON body");
    assert_eq!(user["username"], "slow-body");
    let status = service.exit_status().await;
    assert!(status.success(), "{status}");
}
