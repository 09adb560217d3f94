//! The outbox relay: publishes the events order transactions wrote, in order per order, each
//! marked published only after RabbitMQ confirmed it.
//!
//! The relay wakes on `NOTIFY order_outbox` (sent by every such transaction), so an event
//! usually leaves within milliseconds of its commit; a slow poll covers a lost notification or
//! a dropped listener connection. Several replicas may run relays: rows are claimed with
//! `FOR UPDATE SKIP LOCKED`, and a row is only eligible when no earlier unpublished event of the
//! same order exists, so two relays never publish one order's events out of order. An event may
//! be published twice (a confirm lost with the connection); consumers deduplicate on its id.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use futures_util::StreamExt;
use lapin::options::BasicPublishOptions;
use lapin::types::ShortString;
use lapin::{BasicProperties, Confirmation};
use service_runtime::amqp::{self, AmqpLink};
use service_runtime::db::{DbError, Traced};
use service_runtime::health::DependencyCheck;
use tokio::sync::Notify;
use tokio_postgres::{self, AsyncMessage, NoTls};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use uuid::Uuid;

use crate::events::SCHEMA_VERSION;
use crate::metrics::OrderMetrics;
use crate::repository::OUTBOX_CHANNEL;

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error(transparent)]
    Database(#[from] DbError),
    #[error(transparent)]
    Broker(#[from] amqp::AmqpError),
    #[error("publishing failed: {0}")]
    Publish(String),
}

#[derive(Debug)]
pub struct OutboxRelay {
    pool: Pool,
    link: Arc<AmqpLink>,
    exchange: String,
    batch_size: i64,
    poll_interval: Duration,
    confirm_timeout: Duration,
    /// Connection string for the LISTEN connection (outside the pool: it stays open).
    listen_url: String,
    metrics: OrderMetrics,
}

struct PendingEvent {
    id: i64,
    event_id: Uuid,
    event_type: String,
    payload: String,
    created_at: DateTime<Utc>,
    span: tracing::Span,
}

impl OutboxRelay {
    pub fn new(
        pool: Pool,
        link: Arc<AmqpLink>,
        exchange: String,
        batch_size: i64,
        poll_interval: Duration,
        listen_url: String,
        metrics: OrderMetrics,
    ) -> Self {
        Self {
            pool,
            link,
            exchange,
            batch_size,
            poll_interval,
            confirm_timeout: Duration::from_secs(5),
            listen_url,
            metrics,
        }
    }

    /// Runs until `shutdown`, publishing whatever the outbox holds.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let wake = Arc::new(Notify::new());
        let mut listener: Option<tokio::task::JoinHandle<()>> = None;
        let mut backoff = amqp::reconnect_backoff();
        while !shutdown.is_cancelled() {
            if listener
                .as_ref()
                .is_none_or(tokio::task::JoinHandle::is_finished)
            {
                listener = self.listen(wake.clone()).await;
            }
            let pause = match self.drain().await {
                Ok(_) => {
                    backoff = amqp::reconnect_backoff();
                    None
                }
                Err(error) => {
                    let delay = backoff.next().unwrap_or(Duration::from_secs(5));
                    tracing::warn!(error = %error, retry_in_ms = delay.as_millis() as u64, "outbox relay failed");
                    Some(delay)
                }
            };
            match pause {
                // After a failure, wait out the backoff even if new events arrive.
                Some(delay) => tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(delay) => {}
                },
                None => tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = wake.notified() => {}
                    () = tokio::time::sleep(self.poll_interval) => {}
                },
            }
        }
        if let Some(listener) = listener {
            listener.abort();
        }
    }

    /// Opens the LISTEN connection; its task ends when the connection does.
    async fn listen(&self, wake: Arc<Notify>) -> Option<tokio::task::JoinHandle<()>> {
        let connected = tokio::time::timeout(
            Duration::from_secs(2),
            tokio_postgres::connect(&self.listen_url, NoTls),
        )
        .await;
        let Ok(Ok((client, mut connection))) = connected else {
            tracing::warn!("outbox listener cannot connect; polling only");
            return None;
        };
        let task = tokio::spawn(async move {
            let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
            while let Some(message) = messages.next().await {
                match message {
                    Ok(AsyncMessage::Notification(_)) => wake.notify_one(),
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
        });
        if client
            .batch_execute(&format!("LISTEN {OUTBOX_CHANNEL}"))
            .await
            .is_err()
        {
            task.abort();
            return None;
        }
        // The client must live as long as the connection task: leak it into the task's scope.
        let keep = tokio::spawn(async move {
            let _client = client;
            let _ = task.await;
        });
        Some(keep)
    }

    /// Publishes batches until the outbox is empty; returns how many events went out. Tests
    /// call it to drive the relay without waiting for it.
    pub async fn drain(&self) -> Result<usize, RelayError> {
        let mut total = 0;
        let outcome = loop {
            match self.publish_batch().await {
                Ok(0) => break Ok(total),
                Ok(count) => total += count,
                Err(error) => break Err(error),
            }
        };
        if let Ok(backlog) = self.backlog().await {
            self.metrics.outbox_backlog.set(backlog.count);
        }
        outcome
    }

    async fn publish_batch(&self) -> Result<usize, RelayError> {
        let mut client = self.pool.get().await.map_err(DbError::from)?;
        let transaction = client.transaction().await.map_err(DbError::from)?;
        let rows = transaction
            .query_traced(
                "SELECT o.id, o.event_id, o.event_type, o.payload, o.traceparent, o.tracestate, \
                        o.created_at \
                 FROM outbox o \
                 WHERE o.published_at IS NULL \
                   AND NOT EXISTS (SELECT 1 FROM outbox p \
                                   WHERE p.aggregate_id = o.aggregate_id \
                                     AND p.published_at IS NULL AND p.id < o.id) \
                 ORDER BY o.id LIMIT $1 FOR UPDATE SKIP LOCKED",
                &[&self.batch_size],
            )
            .await?;
        if rows.is_empty() {
            transaction.commit().await.map_err(DbError::from)?;
            return Ok(0);
        }
        let events: Vec<PendingEvent> = rows
            .iter()
            .map(|row| {
                let span = tracing::info_span!(
                    "outbox.publish",
                    otel.kind = "producer",
                    messaging.system = "rabbitmq",
                    messaging.destination.name = %self.exchange,
                    messaging.message.id = %row.get::<_, Uuid>("event_id"),
                );
                // Continue the trace of the request that wrote the event.
                let parent = service_runtime::telemetry::context_from_fields(
                    [
                        ("traceparent", row.get::<_, Option<&str>>("traceparent")),
                        ("tracestate", row.get::<_, Option<&str>>("tracestate")),
                    ]
                    .into_iter()
                    .filter_map(|(name, value)| value.map(|value| (name, value))),
                );
                let _ = span.set_parent(parent);
                PendingEvent {
                    id: row.get("id"),
                    event_id: row.get("event_id"),
                    event_type: row.get("event_type"),
                    payload: row.get("payload"),
                    created_at: row.get("created_at"),
                    span,
                }
            })
            .collect();

        let (published, failure) = self.publish(&events).await;
        if !published.is_empty() {
            transaction
                .execute_traced(
                    "UPDATE outbox SET published_at = now() WHERE id = ANY($1)",
                    &[&published],
                )
                .await?;
        }
        if let Some((id, error)) = &failure {
            transaction
                .execute_traced(
                    "UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE id = $1",
                    &[id, error],
                )
                .await?;
        }
        transaction.commit().await.map_err(DbError::from)?;
        match failure {
            Some((_, error)) => Err(RelayError::Publish(error)),
            None => Ok(published.len()),
        }
    }

    /// Publishes `events` on one channel, then awaits their confirms in order. Returns the ids
    /// confirmed, and the first failure (after which nothing else counts as published).
    async fn publish(&self, events: &[PendingEvent]) -> (Vec<i64>, Option<(i64, String)>) {
        let channel = match self.link.channel().await {
            Ok(channel) => channel,
            Err(error) => {
                self.metrics.outbox_publish_failures.inc();
                return (Vec::new(), Some((events[0].id, error.to_string())));
            }
        };
        let mut pending = Vec::with_capacity(events.len());
        let mut failure = None;
        for event in events {
            let headers = event.span.in_scope(|| {
                amqp::headers_with_trace(&[("x-schema-version", &SCHEMA_VERSION.to_string())])
            });
            let properties = BasicProperties::default()
                .with_content_type(ShortString::from("application/json"))
                .with_delivery_mode(2)
                .with_message_id(ShortString::from(event.event_id.to_string()))
                .with_type(ShortString::from(event.event_type.as_str()))
                .with_timestamp(u64::try_from(event.created_at.timestamp()).unwrap_or(0))
                .with_app_id(ShortString::from("order-service"))
                .with_headers(headers);
            let sent = channel
                .basic_publish(
                    ShortString::from(self.exchange.as_str()),
                    ShortString::from(event.event_type.as_str()),
                    BasicPublishOptions::default(),
                    event.payload.as_bytes(),
                    properties,
                )
                .instrument(event.span.clone())
                .await;
            match sent {
                Ok(confirm) => pending.push((event, confirm)),
                Err(error) => {
                    failure = Some((event.id, error.to_string()));
                    break;
                }
            }
        }
        let mut published = Vec::with_capacity(pending.len());
        for (event, confirm) in pending {
            if failure.is_some() {
                break;
            }
            match tokio::time::timeout(self.confirm_timeout, confirm).await {
                Ok(Ok(Confirmation::Ack(_) | Confirmation::NotRequested)) => {
                    published.push(event.id);
                    self.metrics.outbox_published.inc();
                    let latency = (Utc::now() - event.created_at).to_std().unwrap_or_default();
                    self.metrics
                        .outbox_publish_latency
                        .observe(latency.as_secs_f64());
                }
                Ok(Ok(Confirmation::Nack(_))) => {
                    failure = Some((event.id, "broker nacked the message".into()));
                }
                Ok(Err(error)) => failure = Some((event.id, error.to_string())),
                Err(_) => failure = Some((event.id, "no confirm in time".into())),
            }
        }
        if failure.is_some() {
            self.metrics.outbox_publish_failures.inc();
            self.link.reset().await;
        }
        (published, failure)
    }

    /// Events waiting, and the age of the oldest.
    pub async fn backlog(&self) -> Result<Backlog, DbError> {
        let client = self.pool.get().await?;
        let row = client
            .query_one_traced(
                "SELECT count(*) AS count, \
                        COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0)::float8 AS age \
                 FROM outbox WHERE published_at IS NULL",
                &[],
            )
            .await?;
        Ok(Backlog {
            count: row.get("count"),
            oldest_age_secs: row.get("age"),
        })
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Backlog {
    pub count: i64,
    pub oldest_age_secs: f64,
}

/// `/health` entry for the outbox: never a reason to be unready. The background probe also
/// keeps the `outbox_backlog` gauge current, so the backlog is seen in metrics, not in the
/// public health answer.
#[derive(Debug, Clone)]
pub struct OutboxCheck(pub Arc<OutboxRelay>);

#[salvo::async_trait]
impl DependencyCheck for OutboxCheck {
    fn name(&self) -> &'static str {
        "outbox"
    }

    fn required(&self) -> bool {
        false
    }

    async fn check(&self) -> Result<(), String> {
        let backlog = self.0.backlog().await.map_err(|e| e.to_string())?;
        self.0.metrics.outbox_backlog.set(backlog.count);
        Ok(())
    }
}
