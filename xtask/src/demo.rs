//! `cargo xtask demo`: walks through the running system (started by `cargo xtask up`) and shows
//! each step: a user registers and logs in, the admin creates products, the user places an
//! order and cancels it, the notification is sent, and both order events are read back from
//! NATS JetStream where the bridge mirrored them.
//!
//! It adapts to what is running: a step whose service is not up is shown as skipped, so the
//! demo is useful from the first service on.

use std::time::Duration;

use anyhow::{Context, bail};
use async_nats::{self, jetstream};
use futures_util::StreamExt;
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

use crate::up::DEV_ADMIN;

const HOST: &str = "http://127.0.0.1";
const USER: u16 = 8001;
const PRODUCT: u16 = 8002;
const ORDER: u16 = 8003;
const NOTIFICATION: u16 = 8004;
const BRIDGE: u16 = 8005;
/// The bridge's defaults (`BRIDGE_STREAM`, `BRIDGE_SUBJECT_PREFIX`).
const STREAM: &str = "ORDER_EVENTS";
const SUBJECTS: &str = "events.order.>";

type OrderedConsumer = jetstream::consumer::Consumer<jetstream::consumer::pull::OrderedConfig>;

struct Demo {
    http: Client,
    step: usize,
}

impl Demo {
    fn step(&mut self, title: &str) {
        self.step += 1;
        println!("\n== {}. {title}", self.step);
    }

    async fn up(&self, port: u16) -> bool {
        let url = format!("{HOST}:{port}/health/live");
        matches!(self.http.get(url).send().await, Ok(response) if response.status().is_success())
    }

    /// Sends a request, prints it and its answer, and returns (status, JSON body).
    async fn call(
        &self,
        method: Method,
        port: u16,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let mut request = self
            .http
            .request(method.clone(), format!("{HOST}:{port}{path}"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = &body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("{method} :{port}{path}"))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        println!("   {method} :{port}{path} -> {status}");
        println!("   {}", compact(&value));
        Ok((status, value))
    }
}

fn compact(value: &Value) -> String {
    let text = value.to_string();
    if text.len() > 400 {
        format!("{}…", &text[..400])
    } else {
        text
    }
}

/// Which services answered their liveness check when the demo started.
struct Running(Vec<(u16, bool)>);

impl Running {
    fn is_up(&self, port: u16) -> bool {
        self.0.iter().any(|(p, up)| *p == port && *up)
    }
}

/// The customer's token and, when the development admin exists, the admin's.
struct Tokens {
    customer: String,
    admin: Option<String>,
}

pub async fn run() -> anyhow::Result<()> {
    let http = Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()?;
    let mut demo = Demo { http, step: 0 };

    let running = what_is_running(&mut demo).await;
    if !running.is_up(USER) {
        bail!("the User Service is not running; start the system with `cargo xtask up`");
    }
    // Names the demo creates carry it, so runs never collide.
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let tokens = register_and_log_in(&mut demo, suffix).await?;
    // Subscribed before any order exists, so the demo sees exactly its own events.
    let events = if running.is_up(BRIDGE) {
        subscribe_to_order_events().await
    } else {
        None
    };
    let product_ids = create_products(&mut demo, &running, tokens.admin.as_deref(), suffix).await?;
    let order_id =
        place_and_cancel_order(&mut demo, &running, &tokens.customer, &product_ids).await?;
    show_notification(&mut demo, &running, order_id).await;
    show_order_events(&mut demo, &running, order_id, events).await
}

async fn what_is_running(demo: &mut Demo) -> Running {
    demo.step("What is running");
    let mut running = Vec::new();
    for (name, port) in [
        ("user-service", USER),
        ("product-service", PRODUCT),
        ("order-service", ORDER),
        ("notification-service", NOTIFICATION),
        ("event-bridge", BRIDGE),
    ] {
        let up = demo.up(port).await;
        println!(
            "   {name:<22} :{port}  {}",
            if up { "up" } else { "not running" }
        );
        running.push((port, up));
    }
    Running(running)
}

/// A new customer registers and logs in; the development admin logs in too.
async fn register_and_log_in(demo: &mut Demo, suffix: &str) -> anyhow::Result<Tokens> {
    demo.step("A customer registers and logs in (User Service)");
    let username = format!("demo-{suffix}");
    let password = "demo-password";
    let credentials = json!({"username": username, "password": password});
    demo.call(
        Method::POST,
        USER,
        "/register",
        None,
        Some(credentials.clone()),
    )
    .await?;
    let (_, login) = demo
        .call(Method::POST, USER, "/login", None, Some(credentials))
        .await?;
    let customer = login["access_token"]
        .as_str()
        .context("no access_token in the login answer")?
        .to_owned();
    let (_, admin_login) = demo
        .call(
            Method::POST,
            USER,
            "/login",
            None,
            Some(json!({"username": DEV_ADMIN.0, "password": DEV_ADMIN.1})),
        )
        .await?;
    let admin = admin_login["access_token"].as_str().map(str::to_owned);
    Ok(Tokens { customer, admin })
}

/// The ids of the products the admin created (none when that step is skipped).
async fn create_products(
    demo: &mut Demo,
    running: &Running,
    admin_token: Option<&str>,
    suffix: &str,
) -> anyhow::Result<Vec<i64>> {
    demo.step("The admin creates two products (Product Service)");
    let mut product_ids = Vec::new();
    if !running.is_up(PRODUCT) {
        println!("   skipped: the Product Service is not running");
    } else if let Some(admin_token) = admin_token {
        for (name, price, quantity) in [("Walnut desk", "249.00", 5), ("Desk lamp", "39.90", 20)] {
            let (status, product) = demo
                .call(
                    Method::POST,
                    PRODUCT,
                    "/products",
                    Some(admin_token),
                    Some(json!({"name": format!("{name} {suffix}"), "description": "demo", "price": price, "quantity": quantity})),
                )
                .await?;
            if status.is_success() {
                product_ids.extend(product["id"].as_i64());
            }
        }
    } else {
        println!("   skipped: no development admin (run the system with `cargo xtask up`)");
    }
    Ok(product_ids)
}

/// The id of the order placed, read back and cancelled (none when that step is skipped).
async fn place_and_cancel_order(
    demo: &mut Demo,
    running: &Running,
    token: &str,
    product_ids: &[i64],
) -> anyhow::Result<Option<i64>> {
    demo.step("The customer places an order and cancels it (Order Service)");
    if !running.is_up(ORDER) {
        println!("   skipped: the Order Service is not running");
        return Ok(None);
    }
    let Some(product_id) = product_ids.first() else {
        println!("   skipped: no product to order");
        return Ok(None);
    };
    let (status, order) = demo
        .call(
            Method::POST,
            ORDER,
            "/orders",
            Some(token),
            Some(json!({"product_id": product_id, "quantity": 2})),
        )
        .await?;
    if !status.is_success() {
        return Ok(None);
    }
    let Some(id) = order["id"].as_i64() else {
        return Ok(None);
    };
    let path = format!("/orders/{id}");
    demo.call(Method::GET, ORDER, &path, Some(token), None)
        .await?;
    demo.call(
        Method::PUT,
        ORDER,
        &path,
        Some(token),
        Some(json!({"status": "cancelled"})),
    )
    .await?;
    Ok(Some(id))
}

async fn show_notification(demo: &mut Demo, running: &Running, order_id: Option<i64>) {
    demo.step("The notification (Notification Service)");
    if !running.is_up(NOTIFICATION) {
        println!("   skipped: the Notification Service is not running");
    } else if order_id.is_none() {
        println!("   skipped: no order was placed");
    } else {
        show_notification_metrics(demo).await;
    }
}

async fn show_order_events(
    demo: &mut Demo,
    running: &Running,
    order_id: Option<i64>,
    events: Option<OrderedConsumer>,
) -> anyhow::Result<()> {
    demo.step("The order events, read back from NATS JetStream (event bridge)");
    if !running.is_up(BRIDGE) {
        println!("   skipped: the event bridge is not running");
        return Ok(());
    }
    demo.call(Method::GET, BRIDGE, "/stream", None, None)
        .await?;
    match (order_id, events) {
        (Some(order_id), Some(events)) => show_events(events, order_id).await,
        (None, _) => println!("   no order was placed, so there is no new event to show"),
        (Some(_), None) => println!("   cannot read the stream (is NATS up?)"),
    }
    Ok(())
}

/// An ordered consumer of the events stored from now on.
async fn subscribe_to_order_events() -> Option<OrderedConsumer> {
    let url = std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let client = async_nats::connect(url).await.ok()?;
    let stream = jetstream::new(client).get_stream(STREAM).await.ok()?;
    stream
        .create_consumer(jetstream::consumer::pull::OrderedConfig {
            filter_subject: SUBJECTS.into(),
            deliver_policy: jetstream::consumer::DeliverPolicy::New,
            ..Default::default()
        })
        .await
        .ok()
}

/// Prints the stream's events about `order_id` (created, then cancelled) as they arrive.
async fn show_events(consumer: OrderedConsumer, order_id: i64) {
    let Ok(mut messages) = consumer.messages().await else {
        println!("   cannot read the stream");
        return;
    };
    let mut shown = 0;
    while shown < 2 {
        let next = tokio::time::timeout(Duration::from_secs(10), messages.next()).await;
        let Ok(Some(Ok(message))) = next else {
            println!("   no further event within 10 s (is the Order Service's outbox running?)");
            return;
        };
        let Ok(event) = serde_json::from_slice::<Value>(&message.payload) else {
            continue;
        };
        if event["order"]["id"].as_i64() != Some(order_id) {
            continue;
        }
        let id = message
            .headers
            .as_ref()
            .and_then(|headers| headers.get("Nats-Msg-Id"))
            .map_or("-", |value| value.as_str());
        println!(
            "   {} (Nats-Msg-Id {id}): {} order {} status {}",
            message.subject,
            event["event_type"].as_str().unwrap_or("?"),
            order_id,
            event["order"]["status"].as_str().unwrap_or("?"),
        );
        shown += 1;
    }
}

/// The Notification Service's counters of handled and sent notifications, once it has one.
async fn show_notification_metrics(demo: &Demo) {
    let url = format!("{HOST}:{NOTIFICATION}/metrics");
    // The event reaches the notification service asynchronously: give it a moment per poll.
    for _ in 0..20 {
        if let Ok(response) = demo.http.get(&url).send().await {
            let text = response.text().await.unwrap_or_default();
            let lines: Vec<&str> = text
                .lines()
                .filter(|line| {
                    (line.starts_with("notifications_handled_total")
                        || line.starts_with("notifications_sent_total"))
                        && !line.ends_with(" 0")
                })
                .collect();
            if lines.iter().any(|line| line.contains("delivered")) {
                for line in lines {
                    println!("   {line}");
                }
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    println!("   no notification metrics yet (see its log lines in `cargo xtask up`)");
}
