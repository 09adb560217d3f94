//! The observability configuration against the real thing: the services run in-process on
//! random ports, a private RabbitMQ node serves its Prometheus endpoint, Debian's Redis exporter
//! reads the shared Redis, and Debian's `prometheus` scrapes them all with the repository's
//! scrape jobs (paths and parameters as in `grafana/prometheus/prometheus.yml`, addresses
//! replaced by the local ones) and evaluates the repository's rules. After real traffic (an
//! account, products viewed, orders placed and one cancelled, events mirrored to JetStream, an
//! event published twice, messages dead-lettered), every dashboard panel's query and every
//! rule's expression must be valid PromQL and return data (alert rules by their signal: see
//! [`crate::promql`]).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use shop_config::ServiceConfig as _;
use test_infra::nats_server::PrivateNats;
use test_infra::rabbitmq_server::PrivateRabbitMq;
use test_support::bridge::BridgeHandle;
use test_support::broker::{TestBroker, order_created};
use test_support::notification::{NotificationServiceHandle, NotificationTopology};
use test_support::{
    OrderServiceHandle, ProductServiceHandle, UserServiceHandle, free_port, http_client, wait_until,
};
use tokio::process::{Child, Command};

use crate::promql::{dashboard_queries, rule_queries};
use crate::support::{read, repo_root};

/// A process of this test's own, killed (by its PID) when dropped.
fn spawn(program: &str, args: &[String], package: &str) -> Child {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|error| {
            panic!("{program} is installed (Debian package {package}; cargo xtask test installs it): {error}")
        })
}

fn which(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|directory| directory.join(program).is_file())
    })
}

async fn answers(address: &str) {
    let address = address.to_owned();
    wait_until(
        &format!("{address} to accept"),
        Duration::from_secs(30),
        || {
            let address = address.clone();
            async move {
                tokio::net::TcpStream::connect(&address)
                    .await
                    .ok()
                    .map(drop)
            }
        },
    )
    .await;
}

/// The repository's scrape jobs with each job's discovery replaced by a local address.
fn local_prometheus_config(targets: &BTreeMap<&str, String>, rules: &Path) -> String {
    let config: serde_norway::Value =
        serde_norway::from_str(&read("grafana/prometheus/prometheus.yml")).unwrap();
    let mut jobs = Vec::new();
    for job in config["scrape_configs"].as_sequence().unwrap() {
        let name = job["job_name"].as_str().unwrap();
        let target = targets
            .get(name)
            .unwrap_or_else(|| panic!("no local target for scrape job {name}"));
        let mut local = serde_norway::Mapping::new();
        for key in ["job_name", "metrics_path", "params"] {
            if let Some(value) = job.get(key) {
                local.insert(key.into(), value.clone());
            }
        }
        local.insert(
            "static_configs".into(),
            serde_norway::to_value(json!([{ "targets": [target] }])).unwrap(),
        );
        jobs.push(serde_norway::Value::Mapping(local));
    }
    // Scraped and evaluated every second instead of 15 s, so the test waits seconds, not minutes.
    let local = json!({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [rules.display().to_string()],
    });
    let mut local: serde_norway::Value = serde_norway::to_value(local).unwrap();
    local
        .as_mapping_mut()
        .unwrap()
        .insert("scrape_configs".into(), serde_norway::Value::Sequence(jobs));
    serde_norway::to_string(&local).unwrap()
}

/// The result of an instant query: `Err` for invalid PromQL, otherwise its samples' values.
async fn query(client: &reqwest::Client, prometheus: &str, expr: &str) -> Result<Vec<f64>, String> {
    let response = client
        .post(format!("{prometheus}/api/v1/query"))
        .form(&[("query", expr)])
        .send()
        .await
        .map_err(|error| error.to_string())?;
    let body: Value = response.json().await.map_err(|error| error.to_string())?;
    if body["status"] != "success" {
        return Err(body.to_string());
    }
    let values = match body["data"]["resultType"].as_str() {
        Some("vector") => body["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|sample| {
                sample["value"][1]
                    .as_str()
                    .unwrap()
                    .parse()
                    .unwrap_or(f64::NAN)
            })
            .collect(),
        Some("scalar") => vec![
            body["data"]["result"][1]
                .as_str()
                .unwrap()
                .parse()
                .unwrap_or(f64::NAN),
        ],
        other => return Err(format!("unexpected result type {other:?}")),
    };
    Ok(values)
}

/// Traffic that touches every metric the dashboards show.
async fn traffic(
    users: &UserServiceHandle,
    products: &ProductServiceHandle,
    orders: &OrderServiceHandle,
) {
    let (_, admin) = users.admin().await;
    let (_, customer) = users.customer().await;
    let refused = users.post_login("nobody-here", "wrong-password-123").await;
    assert_eq!(refused.status(), 401);
    let product = products.product_with_stock(&admin, "Lamp", 20).await;
    for _ in 0..3 {
        // A miss, then hits.
        assert!(
            products
                .get(&format!("/products/{product}"))
                .await
                .status()
                .is_success()
        );
    }
    let mut placed = Vec::new();
    for quantity in [1, 2] {
        let order = orders.place_order(&customer, product, quantity).await;
        placed.push(order["id"].as_i64().unwrap());
    }
    let cancelled = orders
        .put(
            &customer,
            &format!("/orders/{}", placed[0]),
            &json!({"status": "cancelled"}),
        )
        .await;
    assert_eq!(cancelled.status(), 200);
    // A 404 for the RED error panels' status breakdown.
    assert_eq!(
        orders.get_as(&customer, "/orders/999999").await.status(),
        404
    );
}

/// The storefront in-process on a random port, scraped like every service; it runs until the
/// test's runtime ends.
async fn start_storefront(
    users: &UserServiceHandle,
    products: &ProductServiceHandle,
    orders: &OrderServiceHandle,
    nats: &str,
) -> std::net::SocketAddr {
    let settings = shop_config::Settings::from_pairs([
        ("HOST", "127.0.0.1".to_owned()),
        ("PORT", "0".to_owned()),
        ("APP_PROFILE", "development".to_owned()),
        ("USER_SERVICE_URL", users.base_url.clone()),
        ("PRODUCT_SERVICE_URL", products.base_url.clone()),
        ("ORDER_SERVICE_URL", orders.base_url.clone()),
        ("NATS_URL", nats.to_owned()),
    ]);
    let config = storefront::config::StorefrontConfig::from_settings(settings).unwrap();
    let app = storefront::build(config).await.unwrap();
    let address = app.local_addr();
    tokio::spawn(app.run(tokio_util::sync::CancellationToken::new()));
    address
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_panel_and_rule_returns_data_from_a_real_prometheus() {
    let rabbitmq = PrivateRabbitMq::start().await;
    let amqp = rabbitmq.amqp_url();
    let users = UserServiceHandle::start().await;
    let products = ProductServiceHandle::start(&users).await;
    // On a broker of this test's own, the production names are free to use.
    let orders = OrderServiceHandle::start_with(
        &users,
        &products,
        &[
            ("AMQP_URL", &amqp),
            ("ORDER_EVENTS_EXCHANGE", "order_events"),
        ],
    )
    .await;
    let topology = NotificationTopology {
        exchange: "order_events".into(),
        queue: "order_notifications".into(),
        exchange_cleanup: None,
    };
    let notifications = NotificationServiceHandle::start(
        &topology,
        &[
            ("AMQP_URL", &amqp),
            ("NOTIFY_ROUTING_KEYS", "order.created,order.status_changed"),
        ],
    )
    .await;

    // The bridge with its production names too, on a nats-server of the test's own.
    let nats = PrivateNats::start().await;
    let bridge = BridgeHandle::start(&[("AMQP_URL", &amqp), ("NATS_URL", &nats.url())]).await;
    let storefront = start_storefront(&users, &products, &orders, &nats.url()).await;

    let redis_exporter = format!("127.0.0.1:{}", free_port());
    // Debian names the exporter's binary after its package, nixpkgs after the project.
    let exporter = ["prometheus-redis-exporter", "redis_exporter"]
        .into_iter()
        .find(|name| which(name))
        .unwrap_or("prometheus-redis-exporter");
    let _redis_exporter = spawn(
        exporter,
        &[
            format!("-web.listen-address={redis_exporter}"),
            format!("-redis.addr={}", test_support::REDIS_URL),
        ],
        "prometheus-redis-exporter",
    );

    let mut targets = BTreeMap::new();
    targets.insert("user-service", users.address.to_string());
    targets.insert("product-service", products.address.to_string());
    targets.insert("order-service", orders.address.to_string());
    targets.insert("notification-service", notifications.address.to_string());
    targets.insert("event-bridge", bridge.address.to_string());
    targets.insert("storefront", storefront.to_string());
    targets.insert("redis", redis_exporter.clone());
    targets.insert("rabbitmq", rabbitmq.metrics_address());
    targets.insert("rabbitmq-queues", rabbitmq.metrics_address());

    let directory =
        std::env::temp_dir().join(format!("test-prometheus-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&directory).unwrap();
    let rules = repo_root().join("grafana/prometheus/rules/shop.yml");
    std::fs::write(
        directory.join("prometheus.yml"),
        local_prometheus_config(&targets, &rules),
    )
    .unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let _prometheus = spawn(
        "prometheus",
        &[
            format!(
                "--config.file={}",
                directory.join("prometheus.yml").display()
            ),
            format!("--storage.tsdb.path={}", directory.join("data").display()),
            format!("--web.listen-address={listen}"),
        ],
        "prometheus",
    );
    answers(&listen).await;
    answers(&redis_exporter).await;
    let prometheus = format!("http://{listen}");

    // Every counter's value before the traffic is scraped, so increases are seen as such.
    let client = http_client();
    let jobs = targets.len();
    wait_until(
        "every target to be scraped",
        Duration::from_secs(30),
        || async {
            let up = query(&client, &prometheus, "up == 1").await.ok()?;
            (up.len() == jobs).then_some(())
        },
    )
    .await;

    traffic(&users, &products, &orders).await;
    let broker = TestBroker::connect_to(&amqp).await;
    // A message that is not an event: the Notification Service dead-letters it at once.
    broker
        .publish(
            "order_events",
            "order.created",
            b"not json",
            Default::default(),
        )
        .await;
    // A routing key that is no NATS subject: the bridge dead-letters it.
    broker
        .publish(
            "order_events",
            "order.not a subject",
            b"{}",
            Default::default(),
        )
        .await;
    // The same event twice (as an outbox retry would): stored once, counted as a duplicate.
    let event = order_created(999_001);
    for _ in 0..2 {
        broker.publish_event("order_events", &event, None).await;
    }
    wait_until(
        "the bridge to see the duplicate and the bad key",
        Duration::from_secs(20),
        || async {
            let duplicate = bridge
                .served_metric(r#"bridge_events_duplicate_total{routing_key="order.created"}"#)
                .await;
            let dead = bridge
                .served_metric(r#"bridge_events_dead_lettered_total{reason="invalid_routing_key"}"#)
                .await;
            (duplicate >= 1.0 && dead >= 1.0).then_some(())
        },
    )
    .await;
    wait_until(
        "the malformed message to be dead-lettered",
        Duration::from_secs(20),
        || async {
            (notifications.metric(r#"notifications_dead_lettered_total{reason="malformed"}"#)
                >= 1.0)
                .then_some(())
        },
    )
    .await;
    wait_until(
        "the order events to be notified",
        Duration::from_secs(20),
        || async {
            (notifications.metric(r#"notifications_handled_total{outcome="delivered"}"#) >= 4.0)
                .then_some(())
        },
    )
    .await;

    // Each query is polled until it has data (rates need two scrapes, recording rules an
    // evaluation); invalid PromQL fails at once.
    let mut queries = dashboard_queries();
    queries.extend(rule_queries());
    assert!(queries.len() > 60, "{} queries", queries.len());
    for (name, expr) in &queries {
        wait_until(
            &format!("{name}: {expr} to return data"),
            Duration::from_secs(60),
            || async {
                match query(&client, &prometheus, expr).await {
                    Err(error) => panic!("{name}: invalid query {expr}: {error}"),
                    Ok(values) => values.iter().any(|value| value.is_finite()).then_some(()),
                }
            },
        )
        .await;
    }

    drop(broker);
    bridge.stop().await;
    notifications.stop().await;
    orders.stop().await;
    products.stop().await;
    users.stop().await;
    let _ = std::fs::remove_dir_all(&directory);
}
