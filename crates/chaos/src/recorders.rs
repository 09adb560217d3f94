//! What the run sees besides its own requests: the notifications the webhook receiver gets, the
//! order events a queue of the run's own receives from RabbitMQ, the events stored in the
//! JetStream stream, and the databases once the system went quiet.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::StreamExt as _;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::{FieldTable, ShortString};
use serde_json::Value;

use crate::history::{EventRecord, FinalState, NotificationRecord, OrderState, ProductState};
use crate::lab::{Host, ROOT};
use crate::system::{EXCHANGE, STREAM};
use crate::workload::Recorder;

/// The webhook receiver: an HTTP endpoint in the root namespace that records every delivery
/// and answers 200.
#[derive(Debug)]
pub struct WebhookReceiver {
    pub url: String,
    received: Arc<Mutex<Vec<NotificationRecord>>>,
    server: salvo::server::ServerHandle,
}

impl WebhookReceiver {
    pub async fn start(recorder: Recorder) -> anyhow::Result<Self> {
        use salvo::conn::Acceptor as _;
        use salvo::prelude::*;
        let acceptor = salvo::conn::TcpListener::new(SocketAddr::from((ROOT, 0)))
            .try_bind()
            .await?;
        let address = acceptor
            .holdings()
            .first()
            .and_then(|holding| holding.local_addr.clone().into_std())
            .context("the receiver's address")?;
        let received: Arc<Mutex<Vec<NotificationRecord>>> = Arc::default();
        let router = Router::with_path("hook").post(Receive {
            sink: received.clone(),
            recorder,
        });
        let server = Server::new(acceptor);
        let handle = server.handle();
        tokio::spawn(server.serve(router));
        Ok(Self {
            url: format!("http://{address}/hook"),
            received,
            server: handle,
        })
    }

    pub fn notifications(&self) -> Vec<NotificationRecord> {
        self.received.lock().expect("not poisoned").clone()
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.server.stop_forceful();
    }
}

struct Receive {
    sink: Arc<Mutex<Vec<NotificationRecord>>>,
    recorder: Recorder,
}

#[salvo::async_trait]
impl salvo::Handler for Receive {
    async fn handle(
        &self,
        request: &mut salvo::Request,
        _: &mut salvo::Depot,
        _: &mut salvo::Response,
        _: &mut salvo::FlowCtrl,
    ) {
        let event_id = request
            .headers()
            .get("x-shop-event-id")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let body = request
            .payload()
            .await
            .map(|bytes| bytes.to_vec())
            .unwrap_or_default();
        let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let event_id = event_id
            .or_else(|| json["event_id"].as_str().map(str::to_owned))
            .unwrap_or_default();
        self.sink
            .lock()
            .expect("not poisoned")
            .push(NotificationRecord {
                event_id,
                order_id: json["order"]["id"].as_i64(),
                at_ms: self.recorder.now_ms(),
            });
    }
}

/// A durable queue of the run's own, bound to every order event, read as the run goes;
/// reconnects whenever the broker goes away.
#[derive(Debug)]
pub struct BrokerListener {
    received: Arc<Mutex<Vec<EventRecord>>>,
    task: tokio::task::JoinHandle<()>,
}

const RECORDER_QUEUE: &str = "chaos.recorder";

impl BrokerListener {
    /// Declares and binds the queue (so it holds every event from now on), then consumes it.
    pub async fn start(amqp_url: String, recorder: Recorder) -> anyhow::Result<Self> {
        let received: Arc<Mutex<Vec<EventRecord>>> = Arc::default();
        // The first declaration happens now, so no event placed after set-up goes unseen.
        let mut opened = Some(open(&amqp_url).await.context("the run's broker queue")?);
        let sink = received.clone();
        let task = tokio::spawn(async move {
            loop {
                let channel = match opened.take() {
                    Some(channel) => Ok(channel),
                    None => open(&amqp_url).await,
                };
                if let Ok(channel) = channel {
                    let _ = consume(channel, &sink, &recorder).await;
                }
                // The broker went away (a fault): try again, without spinning.
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
        Ok(Self { received, task })
    }

    pub fn events(&self) -> Vec<EventRecord> {
        self.received.lock().expect("not poisoned").clone()
    }
}

impl Drop for BrokerListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn open(url: &str) -> anyhow::Result<(lapin::Connection, lapin::Channel)> {
    let connection = tokio::time::timeout(
        Duration::from_secs(5),
        lapin::Connection::connect(url, lapin::ConnectionProperties::default()),
    )
    .await??;
    let channel = connection.create_channel().await?;
    channel
        .exchange_declare(
            ShortString::from(EXCHANGE),
            lapin::ExchangeKind::Topic,
            ExchangeDeclareOptions {
                passive: true,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await?;
    channel
        .queue_declare(
            ShortString::from(RECORDER_QUEUE),
            QueueDeclareOptions {
                durable: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await?;
    channel
        .queue_bind(
            ShortString::from(RECORDER_QUEUE),
            ShortString::from(EXCHANGE),
            "#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    Ok((connection, channel))
}

async fn consume(
    (_connection, channel): (lapin::Connection, lapin::Channel),
    sink: &Mutex<Vec<EventRecord>>,
    recorder: &Recorder,
) -> anyhow::Result<()> {
    let mut consumer = channel
        .basic_consume(
            ShortString::from(RECORDER_QUEUE),
            "chaos-recorder".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    while let Some(delivery) = consumer.next().await {
        let delivery = delivery?;
        {
            let mut sink = sink.lock().expect("not poisoned");
            let sequence = sink.len() as u64 + 1;
            if let Some(mut event) = event_record(&delivery.data, sequence) {
                event.seen_ms = recorder.now_ms();
                sink.push(event);
            }
        }
        delivery.ack(BasicAckOptions::default()).await?;
    }
    Ok(())
}

/// An order event's body as a record; `None` for a body that is not one.
pub fn event_record(body: &[u8], sequence: u64) -> Option<EventRecord> {
    let event: order_events::OrderEvent = serde_json::from_slice(body).ok()?;
    Some(EventRecord {
        event_id: event.event_id.to_string(),
        event_type: event.event_type.as_str().to_owned(),
        order_id: event.order.id,
        status: serde_json::to_value(event.order.status)
            .ok()
            .and_then(|status| status.as_str().map(str::to_owned))
            .unwrap_or_default(),
        sequence,
        seen_ms: 0,
    })
}

/// What the run reads once the workload is over: the stream and the databases, over one
/// connection each (every fault has healed by then).
pub struct Observer {
    stream: async_nats::jetstream::stream::Stream,
    orders: tokio_postgres::Client,
    products: tokio_postgres::Client,
    users: tokio_postgres::Client,
}

impl Observer {
    pub async fn connect() -> anyhow::Result<Self> {
        let client = async_nats::connect(format!("nats://{}:4222", Host::Nats.address())).await?;
        let stream = async_nats::jetstream::new(client)
            .get_stream(STREAM)
            .await?;
        Ok(Self {
            stream,
            orders: connect("orders").await?,
            products: connect("products").await?,
            users: connect("users").await?,
        })
    }

    /// Every event the stream holds, in stream order.
    pub async fn stream_events(&mut self) -> anyhow::Result<Vec<EventRecord>> {
        let info = self.stream.info().await?;
        let (first, last) = (info.state.first_sequence, info.state.last_sequence);
        let mut events = Vec::new();
        for sequence in first.max(1)..=last {
            if let Ok(message) = self.stream.get_raw_message(sequence).await
                && let Some(event) = event_record(&message.payload, sequence)
            {
                events.push(event);
            }
        }
        Ok(events)
    }

    async fn stream_len(&mut self) -> anyhow::Result<u64> {
        Ok(self.stream.info().await?.state.messages)
    }

    /// Work the services still owe once the faults healed, by kind: `(what, how many)`.
    pub async fn outstanding_work(&self) -> anyhow::Result<Vec<(&'static str, i64)>> {
        const ORDER_WORK: [(&str, &str); 3] = [
            (
                "orders whose reservation is not confirmed",
                "SELECT count(*) FROM orders WHERE reservation_confirmed = FALSE AND status <> 'cancelled' AND deleted_at IS NULL",
            ),
            (
                "cancelled or deleted orders whose stock is not released",
                "SELECT count(*) FROM orders WHERE reservation_released = FALSE AND (status = 'cancelled' OR deleted_at IS NOT NULL)",
            ),
            (
                "events not yet published",
                "SELECT count(*) FROM outbox WHERE published_at IS NULL",
            ),
        ];
        let mut work = Vec::new();
        for (what, query) in ORDER_WORK {
            work.push((what, self.orders.query_one(query, &[]).await?.get(0)));
        }
        work.push((
            "reservations neither confirmed nor expired",
            self.products
                .query_one(
                    "SELECT count(*) FROM reservations WHERE status = 'reserved'",
                    &[],
                )
                .await?
                .get(0),
        ));
        Ok(work)
    }

    /// Waits (up to `limit`) until the services owe no work and the stream, the run's queue
    /// and the notifications (`counts`) have stopped growing; returns whether they settled.
    pub async fn wait_until_quiet(
        &mut self,
        limit: Duration,
        counts: impl Fn() -> (usize, usize),
    ) -> bool {
        /// Rounds in a row with nothing owed and nothing moving.
        const STILL_ROUNDS: u32 = 3;
        let started = Instant::now();
        let mut last = None;
        let mut still = 0;
        while started.elapsed() < limit {
            let owed: Option<i64> = match self.outstanding_work().await {
                Ok(work) => Some(work.iter().map(|(_, count)| count).sum()),
                Err(_) => None,
            };
            let now = (counts(), self.stream_len().await.ok());
            still = if owed == Some(0) && last.as_ref() == Some(&now) {
                still + 1
            } else {
                0
            };
            if still >= STILL_ROUNDS {
                return true;
            }
            last = Some(now);
            // A poll with a bound, not a synchronisation: "quiet" has no event to wait for.
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        false
    }

    /// The databases now: products with their stock and live reservations, every order, every
    /// idempotency key with its owner's name.
    pub async fn final_state(&self, initial: &[(i64, i64)]) -> anyhow::Result<FinalState> {
        let mut state = FinalState::default();
        for (id, initial_stock) in initial {
            let row = self
                .products
                .query_one(
                    "SELECT p.quantity::BIGINT,
                            COALESCE((SELECT sum(quantity) FROM reservations r
                                      WHERE r.product_id = p.id AND r.status IN ('reserved', 'confirmed')), 0)::BIGINT
                     FROM products p WHERE p.id = $1",
                    &[id],
                )
                .await?;
            state.products.push(ProductState {
                id: *id,
                initial_stock: *initial_stock,
                remaining: row.get(0),
                reserved: row.get(1),
            });
        }
        for row in self
            .orders
            .query(
                "SELECT id, username, product_id, quantity::BIGINT, status, deleted_at IS NOT NULL FROM orders ORDER BY id",
                &[],
            )
            .await?
        {
            state.orders.push(OrderState {
                id: row.get(0),
                user: row.get(1),
                product_id: row.get(2),
                quantity: row.get(3),
                status: row.get(4),
                deleted: row.get(5),
            });
        }
        let names: HashMap<i64, String> = self
            .users
            .query("SELECT id, username FROM users", &[])
            .await?
            .into_iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect();
        for row in self
            .orders
            .query("SELECT user_id, key, order_id FROM idempotency_keys", &[])
            .await?
        {
            let user_id: i64 = row.get(0);
            state.idempotency_keys.push((
                names.get(&user_id).cloned().unwrap_or_default(),
                row.get(1),
                row.get(2),
            ));
        }
        Ok(state)
    }
}

async fn connect(database: &str) -> anyhow::Result<tokio_postgres::Client> {
    let url = format!(
        "postgres://postgres@{}:5432/{database}",
        Host::Postgres.address()
    );
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_order_event_body_is_recorded_and_anything_else_is_not() {
        let body = serde_json::json!({
            "event_id": "01a2514c-0363-7057-a345-d8fa569b27d4",
            "event_type": "order.status_changed",
            "schema_version": 1,
            "occurred_at": "2026-12-07T15:00:00.000Z",
            "previous_status": "pending",
            "order": {
                "id": 42, "user_id": 3, "username": "shopper", "product_id": 5,
                "product_name": "Lamp", "unit_price": "10.00", "quantity": 2,
                "total_price": "20.00", "status": "cancelled",
                "created_at": "2026-12-07T14:59:00.000Z",
                "updated_at": "2026-12-07T15:00:00.000Z"
            }
        });
        let record = event_record(body.to_string().as_bytes(), 9).expect("an order event");
        assert_eq!(record.event_id, "01a2514c-0363-7057-a345-d8fa569b27d4");
        assert_eq!(record.event_type, "order.status_changed");
        assert_eq!((record.order_id, record.sequence), (42, 9));
        assert_eq!(record.status, "cancelled");
        assert!(event_record(b"{\"hello\": 1}", 1).is_none());
        assert!(event_record(b"not json", 1).is_none());
    }
}
