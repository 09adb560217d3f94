//! The recorded workload: shoppers placing, reading and cancelling orders and reading products,
//! and the admin raising prices, at a fixed arrival rate through the gateway's public HTTPS
//! entry point, as clients outside the cluster do. Every request goes into the history with its
//! times, what it asked and how it ended.
//!
//! Open loop: an operation starts at its scheduled instant whether or not earlier ones have
//! answered, so a stalled system shows as latency and failures rather than as a workload that
//! politely slowed down.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rand::Rng as _;
use rand::SeedableRng as _;
use rand::rngs::StdRng;
use serde_json::{Value, json};

use crate::history::{Operation, Outcome, RequestRecord};

/// How long a client waits for one answer; past it the request counts as unanswered.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// A placement with no answer or a 5xx is sent again with the same key, up to this many times.
const PLACEMENT_ATTEMPTS: u32 = 3;

/// The shape of the workload.
#[derive(Debug, Clone)]
pub struct WorkloadPlan {
    pub seed: u64,
    pub duration: Duration,
    /// Shopper operations started per second.
    pub rate: u32,
    pub shoppers: usize,
    pub products: usize,
    pub initial_stock: i64,
}

/// A shopper's account.
#[derive(Debug, Clone)]
struct Shopper {
    username: String,
    token: String,
}

/// An order a placement got back, and whether a cancel of it returned.
#[derive(Debug, Clone)]
struct Placed {
    order_id: i64,
    shopper: usize,
    cancelled: bool,
}

/// What the workload set up before the clock started: the products it created, with their
/// stock, and the shoppers.
#[derive(Debug, Clone)]
pub struct Catalogue {
    pub products: Vec<(i64, i64)>,
    shoppers: Vec<Shopper>,
    admin_token: String,
}

/// The client every request goes through: the gateway's certificate trusted, `localhost`
/// resolved to the gateway host.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    pub fn new(gateway: SocketAddr, ca_pem: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes())?)
            .resolve("localhost", gateway)
            .timeout(REQUEST_TIMEOUT)
            .build()?;
        Ok(Self {
            http,
            base: format!("https://localhost:{}", gateway.port()),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A setup call that must succeed: the JSON answer of a 2xx.
    async fn must(&self, request: reqwest::RequestBuilder, what: &str) -> anyhow::Result<Value> {
        let answer = request.send().await.with_context(|| what.to_owned())?;
        let status = answer.status();
        let body = answer.text().await.unwrap_or_default();
        if !status.is_success() {
            bail!("{what}: {status} {body}");
        }
        Ok(serde_json::from_str(&body).unwrap_or(Value::Null))
    }

    async fn log_in(&self, username: &str, password: &str) -> anyhow::Result<String> {
        let answer = self
            .must(
                self.http
                    .post(self.url("/login"))
                    .json(&json!({"username": username, "password": password})),
                "logging in",
            )
            .await?;
        answer["access_token"]
            .as_str()
            .map(str::to_owned)
            .context("a token in the login answer")
    }
}

/// Creates the products and registers the shoppers (before any fault).
pub async fn set_up(
    client: &Client,
    plan: &WorkloadPlan,
    admin: (&str, &str),
) -> anyhow::Result<Catalogue> {
    let admin_token = client.log_in(admin.0, admin.1).await?;
    let mut products = Vec::new();
    for index in 0..plan.products {
        let created = client
            .must(
                client
                    .http
                    .post(client.url("/products"))
                    .bearer_auth(&admin_token)
                    .json(&json!({
                        "name": format!("chaos product {index}"),
                        "description": "stock under faults",
                        "price": "10.00",
                        "quantity": plan.initial_stock,
                    })),
                "creating a product",
            )
            .await?;
        let id = created["id"].as_i64().context("a product id")?;
        products.push((id, plan.initial_stock));
    }
    let mut shoppers = Vec::new();
    for index in 0..plan.shoppers {
        let username = format!("shopper{index}x{}", plan.seed % 100_000);
        let password = uuid::Uuid::new_v4().simple().to_string();
        client
            .must(
                client
                    .http
                    .post(client.url("/register"))
                    .json(&json!({"username": username, "password": password})),
                "registering a shopper",
            )
            .await?;
        let token = client.log_in(&username, &password).await?;
        shoppers.push(Shopper { username, token });
    }
    Ok(Catalogue {
        products,
        shoppers,
        admin_token,
    })
}

/// The shared record of the run so far, on the clock the workload starts.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    started: Arc<std::sync::OnceLock<Instant>>,
    requests: Arc<Mutex<Vec<RequestRecord>>>,
}

impl Recorder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts the clock (once): time 0 of the history.
    pub fn start_clock(&self) {
        let _ = self.started.set(Instant::now());
    }

    /// Milliseconds since the clock started (0 before).
    pub fn now_ms(&self) -> u64 {
        self.started.get().map_or(0, |started| {
            u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
        })
    }

    fn push(&self, record: RequestRecord) {
        self.requests.lock().expect("not poisoned").push(record);
    }

    /// Every request recorded, ordered by start.
    pub fn requests(&self) -> Vec<RequestRecord> {
        let mut requests = self.requests.lock().expect("not poisoned").clone();
        requests.sort_by_key(|record| record.start_ms);
        requests
    }
}

/// What one answer said, as far as the history cares.
#[derive(Debug, Default)]
struct Answer {
    order_id: Option<i64>,
    price_cents: Option<i64>,
    order_status: Option<String>,
}

/// Sends `request`, records it as `operation` and returns its outcome and body.
async fn recorded(
    recorder: &Recorder,
    operation: Operation,
    request: reqwest::RequestBuilder,
) -> (Outcome, Option<Value>) {
    let start_ms = recorder.now_ms();
    let (outcome, body) = match request.send().await {
        Ok(answer) => {
            let status = answer.status().as_u16();
            let body = answer.json::<Value>().await.ok();
            (Outcome::Status { status }, body)
        }
        Err(error) => (
            Outcome::NoAnswer {
                reason: no_answer_reason(&error),
            },
            None,
        ),
    };
    let answer = body
        .as_ref()
        .filter(|_| outcome.is_success())
        .map(read_answer)
        .unwrap_or_default();
    recorder.push(RequestRecord {
        start_ms,
        end_ms: recorder.now_ms(),
        operation,
        outcome: outcome.clone(),
        order_id: answer.order_id,
        price_cents: answer.price_cents,
        order_status: answer.order_status,
    });
    (outcome, body)
}

fn no_answer_reason(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timeout".into()
    } else if error.is_connect() {
        "connect".into()
    } else {
        "transport".into()
    }
}

/// The order id, price or status a 2xx body names.
fn read_answer(body: &Value) -> Answer {
    let is_order = body.get("product_id").is_some();
    Answer {
        order_id: is_order.then(|| body["id"].as_i64()).flatten(),
        price_cents: (!is_order)
            .then(|| body.get("price").and_then(price_cents))
            .flatten(),
        order_status: is_order
            .then(|| body["status"].as_str().map(str::to_owned))
            .flatten(),
    }
}

/// `"12.34"` (or a number) as 1234.
pub fn price_cents(price: &Value) -> Option<i64> {
    let text = match price {
        Value::String(text) => text.clone(),
        Value::Number(number) => number.to_string(),
        _ => return None,
    };
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, "0"));
    let fraction = format!("{fraction:0<2}");
    Some(whole.parse::<i64>().ok()? * 100 + fraction.get(..2)?.parse::<i64>().ok()?)
}

/// Runs the workload until `plan.duration` is over, then waits for the requests in flight.
pub async fn run(client: &Client, plan: &WorkloadPlan, catalogue: &Catalogue, recorder: &Recorder) {
    let placed: Arc<Mutex<Vec<Placed>>> = Arc::default();
    let deadline = Instant::now() + plan.duration;
    let mut tasks = tokio::task::JoinSet::new();
    // The admin raises each product's price one write at a time, so prices only grow.
    for (product_id, _) in catalogue.products.clone() {
        let (client, recorder, token) = (
            client.clone(),
            recorder.clone(),
            catalogue.admin_token.clone(),
        );
        tasks.spawn(async move {
            let mut price_cents = 1_000;
            while Instant::now() < deadline {
                price_cents += 1;
                let request = client
                    .http
                    .put(client.url(&format!("/products/{product_id}")))
                    .bearer_auth(&token)
                    .json(&json!({"price": format!("{}.{:02}", price_cents / 100, price_cents % 100)}));
                recorded(
                    &recorder,
                    Operation::UpdatePrice {
                        product_id,
                        price_cents,
                    },
                    request,
                )
                .await;
                tokio::time::sleep(Duration::from_millis(700)).await;
            }
        });
    }
    // Shared by every operation's task rather than copied into each.
    let shared = Arc::new(catalogue.clone());
    let mut rng = StdRng::seed_from_u64(plan.seed);
    let interval = Duration::from_secs(1) / plan.rate.max(1);
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    while Instant::now() < deadline {
        ticker.tick().await;
        let roll = rng.random_range(0..100);
        let shopper = rng.random_range(0..catalogue.shoppers.len());
        let product = catalogue.products[rng.random_range(0..catalogue.products.len())].0;
        let quantity = rng.random_range(1..=3);
        let pick: u64 = rng.random();
        let (client, recorder, catalogue, placed) = (
            client.clone(),
            recorder.clone(),
            shared.clone(),
            placed.clone(),
        );
        tasks.spawn(async move {
            match roll {
                0..45 => {
                    place(
                        &client, &recorder, &catalogue, &placed, shopper, product, quantity,
                    )
                    .await;
                }
                45..75 => {
                    let request = client.http.get(client.url(&format!("/products/{product}")));
                    recorded(
                        &recorder,
                        Operation::ReadProduct {
                            product_id: product,
                        },
                        request,
                    )
                    .await;
                }
                75..85 => cancel(&client, &recorder, &catalogue, &placed, pick).await,
                _ => read_order(&client, &recorder, &catalogue, &placed, pick).await,
            }
        });
        // Finished tasks are collected as the run goes, so the set stays small.
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
}

async fn place(
    client: &Client,
    recorder: &Recorder,
    catalogue: &Catalogue,
    placed: &Mutex<Vec<Placed>>,
    shopper: usize,
    product_id: i64,
    quantity: i64,
) {
    let account = &catalogue.shoppers[shopper];
    let key = uuid::Uuid::new_v4().to_string();
    for attempt in 0..PLACEMENT_ATTEMPTS {
        let request = client
            .http
            .post(client.url("/orders"))
            .bearer_auth(&account.token)
            .header("Idempotency-Key", &key)
            .json(&json!({"product_id": product_id, "quantity": quantity}));
        let operation = Operation::PlaceOrder {
            key: key.clone(),
            user: account.username.clone(),
            product_id,
            quantity,
            attempt,
        };
        let (outcome, body) = recorded(recorder, operation, request).await;
        if outcome.is_success() {
            if let Some(order_id) = body.as_ref().and_then(|body| body["id"].as_i64()) {
                let mut placed = placed.lock().expect("not poisoned");
                if !placed.iter().any(|order| order.order_id == order_id) {
                    placed.push(Placed {
                        order_id,
                        shopper,
                        cancelled: false,
                    });
                }
            }
            return;
        }
        // An answer that settles it (out of stock, refused) is not retried; no answer or a
        // server error may have left the order placed, which the same key finds again.
        if outcome.status().is_some_and(|status| status < 500) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(300 * u64::from(attempt + 1))).await;
    }
}

/// One of the placed orders not yet cancelled, chosen by `pick`.
fn choose(placed: &Mutex<Vec<Placed>>, pick: u64, live_only: bool) -> Option<Placed> {
    let placed = placed.lock().expect("not poisoned");
    let candidates: Vec<&Placed> = placed
        .iter()
        .filter(|order| !(live_only && order.cancelled))
        .collect();
    if candidates.is_empty() {
        return None;
    }
    let index = usize::try_from(pick % candidates.len() as u64).unwrap_or(0);
    Some(candidates[index].clone())
}

async fn cancel(
    client: &Client,
    recorder: &Recorder,
    catalogue: &Catalogue,
    placed: &Mutex<Vec<Placed>>,
    pick: u64,
) {
    let Some(order) = choose(placed, pick, true) else {
        return;
    };
    let request = client
        .http
        .put(client.url(&format!("/orders/{}", order.order_id)))
        .bearer_auth(&catalogue.shoppers[order.shopper].token)
        .json(&json!({"status": "cancelled"}));
    let (outcome, _) = recorded(
        recorder,
        Operation::CancelOrder {
            order_id: order.order_id,
        },
        request,
    )
    .await;
    if outcome.is_success() {
        let mut placed = placed.lock().expect("not poisoned");
        if let Some(entry) = placed.iter_mut().find(|o| o.order_id == order.order_id) {
            entry.cancelled = true;
        }
    }
}

async fn read_order(
    client: &Client,
    recorder: &Recorder,
    catalogue: &Catalogue,
    placed: &Mutex<Vec<Placed>>,
    pick: u64,
) {
    let Some(order) = choose(placed, pick, false) else {
        return;
    };
    let request = client
        .http
        .get(client.url(&format!("/orders/{}", order.order_id)))
        .bearer_auth(&catalogue.shoppers[order.shopper].token);
    recorded(
        recorder,
        Operation::ReadOrder {
            order_id: order.order_id,
        },
        request,
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_read_as_cents() {
        assert_eq!(price_cents(&json!("12.34")), Some(1234));
        assert_eq!(price_cents(&json!("10.5")), Some(1050));
        assert_eq!(price_cents(&json!("7")), Some(700));
        assert_eq!(price_cents(&json!(true)), None);
    }

    #[test]
    fn an_order_answer_names_the_order_and_a_product_answer_its_price() {
        let order = read_answer(&json!({"id": 7, "product_id": 3, "status": "pending"}));
        assert_eq!(order.order_id, Some(7));
        assert_eq!(order.order_status.as_deref(), Some("pending"));
        assert_eq!(order.price_cents, None);
        let product = read_answer(&json!({"id": 3, "price": "10.01", "quantity": 5}));
        assert_eq!(product.order_id, None);
        assert_eq!(product.price_cents, Some(1001));
    }
}
