//! The shutdown order, on a real host bound to a random port.

use std::sync::Mutex;
use std::time::Instant;

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
            assert!(started.elapsed() < Duration::from_secs(10), "no {event}");
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

async fn host(log: &Arc<Log>, release: &Arc<Notify>, tasks: Tasks) -> ServiceHost {
    let common = CommonConfig {
        host: [127, 0, 0, 1].into(),
        port: 0,
        shutdown_timeout_secs: 10,
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
    crate::server::install_crypto_provider();
    let (log, release) = (Arc::new(Log::default()), Arc::new(Notify::new()));
    let tasks = Tasks::new();
    let host = host(&log, &release, tasks.clone()).await;
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
