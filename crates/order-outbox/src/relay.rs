//! The outbox relay: publishes the events order transactions wrote, batch by batch.
//!
//! It wakes on `NOTIFY order_outbox` (sent by every such transaction, see [`crate::listener`]),
//! so an event usually leaves within milliseconds of its commit; a slow poll covers a lost
//! notification or a dropped listener connection. After a failure it backs off.

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Pool;
use shop_amqp::{self, AmqpLink};
use shop_postgres::{DatabaseConfig, DbError};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::metrics::OutboxMetrics;
use crate::publisher::Publisher;
use crate::store::{self, Backlog};
use crate::{claim, listener};

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error(transparent)]
    Database(#[from] DbError),
    #[error(transparent)]
    Broker(#[from] shop_amqp::AmqpError),
    #[error("publishing failed: {0}")]
    Publish(String),
}

#[derive(Debug)]
pub struct OutboxRelay {
    pool: Pool,
    publisher: Publisher,
    batch_size: i64,
    poll_interval: Duration,
    /// Where the LISTEN connection goes (outside the pool: it stays open), with the pool's TLS.
    /// Its URL holds the database password, a `Secret`: this type's `Debug` must not print it.
    database: DatabaseConfig,
    metrics: OutboxMetrics,
}

impl OutboxRelay {
    pub fn new(
        pool: Pool,
        link: Arc<AmqpLink>,
        exchange: String,
        batch_size: i64,
        poll_interval: Duration,
        database: DatabaseConfig,
        metrics: OutboxMetrics,
    ) -> Self {
        Self {
            pool,
            publisher: Publisher::new(link, exchange, metrics.clone()),
            batch_size,
            poll_interval,
            database,
            metrics,
        }
    }

    /// Runs until `shutdown`, publishing whatever the outbox holds.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let wake = Arc::new(Notify::new());
        let mut listening: Option<JoinHandle<()>> = None;
        let mut backoff = shop_amqp::reconnect_backoff();
        while !shutdown.is_cancelled() {
            if listening.as_ref().is_none_or(JoinHandle::is_finished) {
                listening = listener::listen(&self.database, wake.clone()).await;
            }
            let pause = match self.drain().await {
                Ok(_) => {
                    backoff = shop_amqp::reconnect_backoff();
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
        if let Some(listening) = listening {
            listening.abort();
        }
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
        // Refreshes the gauge; a failure here changes nothing about the outcome.
        let _ = self.backlog().await;
        outcome
    }

    /// Claims one batch, publishes it and records the outcome in the same transaction, so the
    /// rows stay locked to this relay until they are marked.
    async fn publish_batch(&self) -> Result<usize, RelayError> {
        let mut client = self.pool.get().await.map_err(DbError::from)?;
        let transaction = client.transaction().await.map_err(DbError::from)?;
        let events =
            claim::claim_batch(&transaction, self.batch_size, self.publisher.exchange()).await?;
        if events.is_empty() {
            transaction.commit().await.map_err(DbError::from)?;
            return Ok(0);
        }
        let outcome = self.publisher.publish(&events).await;
        claim::mark_published(&transaction, &outcome.published).await?;
        if let Some((id, error)) = &outcome.failure {
            claim::record_failure(&transaction, *id, error).await?;
        }
        transaction.commit().await.map_err(DbError::from)?;
        match outcome.failure {
            Some((_, error)) => Err(RelayError::Publish(error)),
            None => Ok(outcome.published.len()),
        }
    }

    /// The events not yet published; also sets the `outbox_backlog` gauge, which the health
    /// probe thereby keeps current every second.
    pub async fn backlog(&self) -> Result<Backlog, DbError> {
        let backlog = store::backlog(&self.pool).await?;
        self.metrics.backlog.set(backlog.count);
        Ok(backlog)
    }
}

#[cfg(test)]
mod tests {
    use shop_config::Secret;

    use super::*;

    #[tokio::test]
    async fn debug_output_never_shows_the_database_password() {
        let url = "postgres://shop:Zq81-database-password@db:5432/orders";
        let pool = deadpool_postgres::Config {
            url: Some(url.into()),
            ..deadpool_postgres::Config::default()
        }
        .create_pool(
            Some(deadpool_postgres::Runtime::Tokio1),
            tokio_postgres::NoTls,
        )
        .unwrap();
        let topology: shop_amqp::Topology = Arc::new(|_| Box::pin(async { Ok(()) }));
        let link = AmqpLink::new(&shop_amqp::AmqpConfig::default(), "test", true, topology);
        let metrics = shop_telemetry::metrics::Metrics::new();
        let relay = OutboxRelay::new(
            pool,
            link,
            "order_events".into(),
            10,
            Duration::from_secs(1),
            DatabaseConfig {
                database_url: Secret::new(url),
                ..DatabaseConfig::default()
            },
            OutboxMetrics::register(&metrics),
        );
        let printed = format!("{relay:?}");
        assert!(!printed.contains("Zq81-database-password"), "{printed}");
    }
}
