//! The rolling restart `cargo xtask cluster restart` performs (`gateway::rolling`: SIGTERM,
//! drain, start, back in the gateway's rotation, then the next replica) fails no request of a
//! steady load through the gateway: catalogue reads, logins, and orders placed with an
//! `Idempotency-Key`. Any answer other than 2xx, and any transport error, counts as a failure.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gateway::rolling::ReplicaProcess as _;
use serde_json::json;
use test_infra::webhook_sink::WebhookSink;
use test_support::wait_until;

use crate::edge::client_from;
use crate::harness::{CUSTOMER_PASSWORD, Cluster};

/// Source addresses of the login clients: the gateway lets one address post 30 credentials a
/// minute (burst 30), the User Service register 10 customers an hour.
const LOGIN_ADDRESSES: u8 = 12;
/// Each login client's pace, under the gateway's refill of one credential post per 2 s: the
/// limit never answers 429, however long the restart takes.
const LOGIN_PACE: Duration = Duration::from_millis(2_500);
/// The pace of each reader and each orderer: steady load, not a flood of a 2-core machine.
const READ_PACE: Duration = Duration::from_millis(20);
const ORDER_PACE: Duration = Duration::from_millis(50);

/// What the load saw, shared by its tasks and the restart's progress lines.
#[derive(Debug, Default)]
struct Tally {
    succeeded: BTreeMap<&'static str, usize>,
    /// Each failed request: its kind, what came back, and the restart step it fell in.
    failures: Vec<String>,
    /// The restart's latest progress line.
    step: String,
}

type Shared = Arc<Mutex<Tally>>;

fn record(tally: &Shared, kind: &'static str, outcome: Result<reqwest::Response, reqwest::Error>) {
    let mut tally = tally.lock().expect("tally");
    match outcome {
        Ok(response) if response.status().is_success() => {
            *tally.succeeded.entry(kind).or_default() += 1;
        }
        Ok(response) => {
            let failure = format!("{kind}: {} during «{}»", response.status(), tally.step);
            tally.failures.push(failure);
        }
        Err(error) => {
            let failure = format!("{kind}: {error} during «{}»", tally.step);
            tally.failures.push(failure);
        }
    }
}

/// Runs `request` at `pace` until `stop`, recording each outcome as `kind`; the first after
/// `offset`, so that clients of one pace spread over it instead of firing together.
async fn steady<F, Fut>(
    kind: &'static str,
    (pace, offset): (Duration, Duration),
    stop: Arc<AtomicBool>,
    tally: Shared,
    mut request: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<reqwest::Response, reqwest::Error>>,
{
    tokio::time::sleep(offset).await;
    while !stop.load(Ordering::Relaxed) {
        let outcome = request().await;
        record(&tally, kind, outcome);
        tokio::time::sleep(pace).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rolling_restart_of_every_replica_fails_no_request() {
    let _serial = crate::harness::SERIAL.lock().await;
    let sink = WebhookSink::start().await;
    let mut cluster = Cluster::start(&sink.url).await;
    let admin = cluster.admin_token().await;
    let product = cluster.product(&admin, 1_000_000).await;
    let (_, orderer) = cluster.customer().await;
    let mut login_clients = Vec::new();
    for n in 0..LOGIN_ADDRESSES {
        let client = client_from(&cluster, &format!("127.0.0.{}", 40 + n));
        let (username, _) = cluster.customer_from(&client).await;
        login_clients.push((client, username));
    }

    let stop = Arc::new(AtomicBool::new(false));
    let tally = Shared::default();
    let mut load = tokio::task::JoinSet::new();
    for path in [
        format!("/products/{product}"),
        "/products?limit=5".to_owned(),
    ] {
        let (client, url) = (cluster.client.clone(), cluster.url(&path));
        load.spawn(steady(
            "catalogue read",
            (READ_PACE, Duration::ZERO),
            stop.clone(),
            tally.clone(),
            move || client.get(&url).send(),
        ));
    }
    for _ in 0..2 {
        let (client, url, token) = (
            cluster.client.clone(),
            cluster.url("/orders"),
            orderer.clone(),
        );
        load.spawn(steady(
            "order with an Idempotency-Key",
            (ORDER_PACE, Duration::ZERO),
            stop.clone(),
            tally.clone(),
            move || {
                client
                    .post(&url)
                    .bearer_auth(&token)
                    .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
                    .json(&json!({"product_id": product, "quantity": 1}))
                    .send()
            },
        ));
    }
    for (n, (client, username)) in (0..).zip(login_clients) {
        let url = cluster.url("/login");
        load.spawn(steady(
            "login",
            (LOGIN_PACE, LOGIN_PACE * n / u32::from(LOGIN_ADDRESSES)),
            stop.clone(),
            tally.clone(),
            move || {
                client
                    .post(&url)
                    .json(&json!({"username": username, "password": CUSTOMER_PASSWORD}))
                    .send()
            },
        ));
    }
    wait_until(
        "every kind of request to succeed",
        Duration::from_secs(60),
        || async { (tally.lock().expect("tally").succeeded.len() == 3).then_some(()) },
    )
    .await;

    let pids_before: Vec<Option<u32>> = cluster.replicas.iter().map(|r| r.pid()).collect();
    // Per replica: how many requests of each kind succeeded while it was out.
    let mut during: Vec<(String, BTreeMap<&'static str, usize>)> = Vec::new();
    let mut at_sigterm = BTreeMap::new();
    let started = Instant::now();
    cluster
        .rolling_restart(|line| {
            eprintln!("rolling restart: {line}");
            let mut shared = tally.lock().expect("tally");
            shared.step = line.to_owned();
            if line.ends_with("SIGTERM (draining)") {
                at_sigterm = shared.succeeded.clone();
            } else {
                let grown = shared
                    .succeeded
                    .iter()
                    .map(|(kind, count)| (*kind, count - at_sigterm.get(kind).unwrap_or(&0)))
                    .collect();
                during.push((line.to_owned(), grown));
            }
        })
        .await;
    let restart_took = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    load.join_all().await;

    let pids_after: Vec<Option<u32>> = cluster.replicas.iter().map(|r| r.pid()).collect();
    for (before, after) in pids_before.iter().zip(&pids_after) {
        assert!(
            after.is_some() && before != after,
            "every replica runs as a new process"
        );
    }
    let tally = tally.lock().expect("tally");
    let total: usize = tally.succeeded.values().sum::<usize>() + tally.failures.len();
    eprintln!(
        "rolling restart of {} replicas took {:.1} s; requests: {:?}, failed: {}",
        cluster.replicas.len(),
        restart_took.as_secs_f64(),
        tally.succeeded,
        tally.failures.len()
    );
    assert!(
        tally.failures.is_empty(),
        "{} of {total} requests failed during the rolling restart:\n{}",
        tally.failures.len(),
        tally.failures.join("\n")
    );
    // The load ran the whole time: every kind of request succeeded while each replica was out.
    assert_eq!(
        during.len(),
        cluster.replicas.len(),
        "a line per replica back"
    );
    for (replica, grown) in &during {
        for kind in ["catalogue read", "order with an Idempotency-Key", "login"] {
            assert!(
                grown.get(kind).copied().unwrap_or(0) > 0,
                "no {kind} succeeded while «{replica}» was restarting: {grown:?}"
            );
        }
    }
}
