//! The shutdown order, on a real host bound to a random port.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use salvo::prelude::*;
use tokio::sync::Notify;

use super::*;

#[derive(Default)]
struct Log(Mutex<Vec<&'static str>>);

impl Log {
    fn push(&self, event: &'static str) {
        self.0.lock().unwrap().push(event);
    }

    fn events(&self) -> Vec<&'static str> {
        self.0.lock().unwrap().clone()
    }

    async fn wait_for(&self, event: &'static str) {
        let started = Instant::now();
        while !self.events().contains(&event) {
            // A guard against a hang only.
            assert!(started.elapsed() < Duration::from_secs(60), "no {event}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// A request that stays in flight until the test releases it.
struct Slow {
    log: Arc<Log>,
    release: Arc<Notify>,
}

#[async_trait]
impl Handler for Slow {
    async fn handle(&self, _: &mut Request, _: &mut Depot, res: &mut Response, _: &mut FlowCtrl) {
        self.log.push("request started");
        self.release.notified().await;
        self.log.push("request finished");
        res.render("done");
    }
}

async fn host(
    log: &Arc<Log>,
    release: &Arc<Notify>,
    tasks: Tasks,
    shutdown_drain_ms: u64,
) -> ServiceHost {
    let common = CommonConfig {
        host: [127, 0, 0, 1].into(),
        port: 0,
        shutdown_timeout_secs: 10,
        shutdown_drain_ms,
        ..CommonConfig::default()
    };
    let api = Router::with_path("slow").get(Slow {
        log: log.clone(),
        release: release.clone(),
    });
    let parts = HostParts {
        info: ServiceInfo {
            name: "host-test",
            version: "0",
            description: "",
        },
        api,
        checks: Vec::new(),
        metrics: Metrics::new(),
        common: &common,
        tasks,
    };
    let (intake_log, worker_log, close_log) = (log.clone(), log.clone(), log.clone());
    ServiceHost::bind(parts)
        .await
        .unwrap()
        .intake("consumer", move |token| async move {
            token.cancelled().await;
            intake_log.push("intake stopped");
        })
        .worker("relay", move |token| async move {
            token.cancelled().await;
            worker_log.push("worker stopped");
        })
        .on_close(async move { close_log.push("closed") })
}

#[tokio::test]
async fn shutdown_stops_intake_then_finishes_requests_then_workers_then_closes() {
    shop_http::server::install_crypto_provider();
    let (log, release) = (Arc::new(Log::default()), Arc::new(Notify::new()));
    let tasks = Tasks::new();
    let host = host(&log, &release, tasks.clone(), 0).await;
    let url = format!("http://{}/slow", host.local_addr());
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(host.run(shutdown.clone()));

    let request = tokio::spawn(async move { reqwest::get(url).await.unwrap().status() });
    log.wait_for("request started").await;
    // Spawned by "a handler": the host must wait for it too.
    let task_log = log.clone();
    let gate = Arc::new(Notify::new());
    let opened = gate.clone();
    tasks.spawn(async move {
        opened.notified().await;
        task_log.push("spawned task finished");
    });

    shutdown.cancel();
    log.wait_for("intake stopped").await;
    assert!(
        !tasks.stopping().is_cancelled(),
        "workers stop after requests"
    );
    release.notify_one();
    assert_eq!(request.await.unwrap(), 200);
    log.wait_for("worker stopped").await;
    assert!(
        !log.events().contains(&"closed"),
        "a spawned task is running"
    );
    gate.notify_one();
    tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .expect("the host stops")
        .unwrap();
    assert_eq!(
        log.events(),
        [
            "request started",
            "intake stopped",
            "request finished",
            "worker stopped",
            "spawned task finished",
            "closed",
        ]
    );
}

/// With `SHUTDOWN_DRAIN_MS`, a stopping service answers unready yet still serves new
/// connections, so that a load balancer polling readiness takes it out before any connection
/// is refused.
#[tokio::test]
async fn while_draining_the_service_is_unready_but_still_serves_new_connections() {
    shop_http::server::install_crypto_provider();
    let (log, release) = (Arc::new(Log::default()), Arc::new(Notify::new()));
    // Far longer than the test: the drain must not end while it looks.
    let host = host(&log, &release, Tasks::new(), 3_600_000).await;
    let base = format!("http://{}", host.local_addr());
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(host.run(shutdown.clone()));
    // No pooled connection: each request opens a new one, as the gateway's next would.
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let status = |path: &'static str| {
        let request = client.get(format!("{base}{path}"));
        async move { request.send().await.map(|response| response.status()) }
    };
    assert_eq!(status("/health/ready").await.unwrap(), 200);

    shutdown.cancel();
    let started = Instant::now();
    while status("/health/ready").await.ok() != Some(StatusCode::SERVICE_UNAVAILABLE) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "readiness never turned false"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        status("/health/live")
            .await
            .expect("a new connection is served"),
        200
    );
    running.abort();
}
