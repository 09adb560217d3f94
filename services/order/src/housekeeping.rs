//! Periodic work that keeps the orders database from being used against the shop:
//!
//! - **Pending orders expire** after `PENDING_ORDER_TTL_SECS`. Without it, a free account holds
//!   stock forever with orders it never pays for. Each one is cancelled through the ordinary
//!   change path (row lock, `order.status_changed` in the outbox, same transaction) and its
//!   stock released; the row lock and the re-check under it make replicas running this at the
//!   same time cancel each order once.
//! - **Old rows are purged**: published outbox rows after `OUTBOX_RETENTION_SECS`, idempotency
//!   keys after `IDEMPOTENCY_KEY_RETENTION_SECS` (a retry after that is a new order), write
//!   counts of windows that have ended. Deletes
//!   are idempotent, so replicas need no coordination; batches keep each statement short.

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Pool;
use shop_postgres::{DbError, Traced};
use tokio_util::sync::CancellationToken;

use crate::domain::{Change, OrderStatus, Refusal};
use crate::releases::Releaser;
use crate::repository::OrdersRepository;
use crate::write_rate::WriteRate;

/// Rows handled per statement.
const BATCH: i64 = 500;

#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub pending_order_ttl: Duration,
    pub outbox: Duration,
    pub idempotency_keys: Duration,
    pub interval: Duration,
}

#[derive(Debug)]
pub struct Housekeeper {
    pool: Pool,
    orders: OrdersRepository,
    releaser: Arc<Releaser>,
    write_rate: WriteRate,
    retention: Retention,
}

impl Housekeeper {
    pub fn new(
        pool: Pool,
        orders: OrdersRepository,
        releaser: Arc<Releaser>,
        write_rate: WriteRate,
        retention: Retention,
    ) -> Self {
        Self {
            pool,
            orders,
            releaser,
            write_rate,
            retention,
        }
    }

    /// Cancels pending orders older than the TTL and gives their stock back; returns how many.
    pub async fn expire_pending(&self) -> Result<usize, DbError> {
        let ttl = seconds(self.retention.pending_order_ttl);
        let client = self.pool.get().await?;
        let due = client
            .query_traced(
                "SELECT id FROM orders WHERE status = 'pending' AND deleted_at IS NULL \
                 AND created_at < now() - make_interval(secs => $1) ORDER BY id LIMIT $2",
                &[&ttl, &BATCH],
            )
            .await?;
        drop(client);
        let mut expired = 0;
        for row in due {
            let id: i64 = row.get("id");
            // Decided again under the row lock: a customer, an admin or another replica may
            // have moved the order since the list was read.
            let changed = self
                .orders
                .change(id, |order| {
                    if order.status == OrderStatus::Pending {
                        Ok(Change::Status(OrderStatus::Cancelled))
                    } else {
                        Err(Refusal::NotFound)
                    }
                })
                .await;
            match changed {
                Ok(order) => {
                    tracing::info!(order_id = order.id, "pending order expired");
                    self.releaser.release(order.id, order.reservation_id).await;
                    expired += 1;
                }
                Err(crate::repository::ChangeError::Refused(_)) => {}
                Err(crate::repository::ChangeError::Database(error)) => return Err(error),
            }
        }
        Ok(expired)
    }

    /// Deletes published outbox rows, idempotency keys past their retention and write counts of
    /// ended windows.
    pub async fn purge(&self) -> Result<u64, DbError> {
        let client = self.pool.get().await?;
        let outbox = client
            .execute_traced(
                "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox \
                 WHERE published_at < now() - make_interval(secs => $1) LIMIT $2)",
                &[&seconds(self.retention.outbox), &BATCH],
            )
            .await?;
        let keys = client
            .execute_traced(
                "DELETE FROM idempotency_keys WHERE ctid IN (SELECT ctid FROM idempotency_keys \
                 WHERE created_at < now() - make_interval(secs => $1) LIMIT $2)",
                &[&seconds(self.retention.idempotency_keys), &BATCH],
            )
            .await?;
        drop(client);
        let counts = self.write_rate.purge(BATCH).await?;
        Ok(outbox + keys + counts)
    }

    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(self.retention.interval) => {}
            }
            if let Err(error) = self.expire_pending().await {
                tracing::warn!(error = %error, "expiring pending orders failed; will retry");
            }
            if let Err(error) = self.purge().await {
                tracing::warn!(error = %error, "purging old outbox rows and keys failed");
            }
        }
    }
}

fn seconds(duration: Duration) -> f64 {
    duration.as_secs_f64()
}
