//! The `orders` and `idempotency_keys` tables, in raw SQL. Every change to an order appends its
//! event to the outbox ([`order_outbox::append_event`]) in the same transaction, so an event
//! exists exactly when the change does.

use deadpool_postgres::Pool;
use order_outbox::append_event;
use shop_postgres::{DbError, Traced};
use tokio_postgres::Row;
use uuid::Uuid;

use crate::domain::{Change, NewOrder, Order, OrderStatus, Refusal};
use crate::events;

/// An order from a row selected with [`COLUMNS`].
fn order_from_row(row: &Row) -> Order {
    Order {
        id: row.get("id"),
        user_id: row.get("user_id"),
        username: row.get("username"),
        product_id: row.get("product_id"),
        product_name: row.get("product_name"),
        unit_price: row.get("unit_price"),
        quantity: row.get("quantity"),
        total_price: row.get("total_price"),
        // The orders_status_known constraint admits only the contract's names.
        status: OrderStatus::parse(row.get("status")).unwrap_or(OrderStatus::Pending),
        reservation_id: row.get("reservation_id"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    }
}

const COLUMNS: &str = "id, user_id, username, product_id, product_name, unit_price, quantity, \
                       total_price, status, reservation_id, created_at, updated_at";

/// The state of an Idempotency-Key when a request arrives with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyClaim {
    /// This request owns the key now and must create the order.
    Claimed,
    /// An earlier request with the same body created this order.
    Replay(i64),
    /// The key was used with a different body.
    Mismatch,
    /// A request with this key is still being processed.
    InProgress,
}

#[derive(Debug, Clone)]
pub struct OrdersRepository {
    pool: Pool,
    /// Pending orders one customer may hold; checked in the insert's transaction.
    pending_cap: i64,
    /// A key claimed by a request that died mid-way (its replica killed) may be taken over
    /// after this many seconds (`IDEMPOTENCY_STALE_CLAIM_SECS`). It must exceed the longest a
    /// live request can take, or a slow request and its retry would both place the order.
    stale_claim_secs: f64,
}

/// The name under which [`OrdersRepository::create`] reports a customer at the pending cap.
pub const PENDING_CAP: &str = "orders_pending_per_customer_cap";

impl OrdersRepository {
    /// Limits the pending orders per customer (unlimited otherwise).
    pub fn with_pending_cap(mut self, cap: i64) -> Self {
        self.pending_cap = cap;
        self
    }

    pub fn pending_cap(&self) -> i64 {
        self.pending_cap
    }

    /// Pending orders `user_id` holds now.
    pub async fn pending_count(&self, user_id: i64) -> Result<i64, DbError> {
        let client = self.pool.get().await?;
        let row = client
            .query_one_traced(
                "SELECT count(*) AS pending FROM orders \
                 WHERE user_id = $1 AND status = 'pending' AND deleted_at IS NULL",
                &[&user_id],
            )
            .await?;
        Ok(row.get("pending"))
    }

    /// How long a claimed idempotency key stays in progress before a retry may take it over.
    pub fn with_stale_claim_secs(mut self, secs: u64) -> Self {
        // Seconds fit an f64 exactly far beyond any sensible setting.
        #[allow(clippy::cast_precision_loss)]
        let secs = secs as f64;
        self.stale_claim_secs = secs;
        self
    }

    pub fn new(pool: Pool) -> Self {
        Self {
            pool,
            pending_cap: i64::MAX,
            stale_claim_secs: 60.0,
        }
    }

    pub async fn claim_key(
        &self,
        user_id: i64,
        key: &str,
        request_hash: &str,
    ) -> Result<KeyClaim, DbError> {
        let client = self.pool.get().await?;
        let claimed = client
            .query_opt_traced(
                "INSERT INTO idempotency_keys (user_id, key, request_hash) VALUES ($1, $2, $3) \
                 ON CONFLICT (user_id, key) DO UPDATE \
                 SET request_hash = EXCLUDED.request_hash, created_at = now() \
                 WHERE idempotency_keys.order_id IS NULL \
                   AND idempotency_keys.created_at < now() - make_interval(secs => $4) \
                 RETURNING 1",
                &[&user_id, &key, &request_hash, &self.stale_claim_secs],
            )
            .await?;
        if claimed.is_some() {
            return Ok(KeyClaim::Claimed);
        }
        let row = client
            .query_one_traced(
                "SELECT request_hash, order_id FROM idempotency_keys \
                 WHERE user_id = $1 AND key = $2",
                &[&user_id, &key],
            )
            .await?;
        let stored_hash: String = row.get("request_hash");
        let order_id: Option<i64> = row.get("order_id");
        Ok(match order_id {
            _ if stored_hash != request_hash => KeyClaim::Mismatch,
            Some(order_id) => KeyClaim::Replay(order_id),
            None => KeyClaim::InProgress,
        })
    }

    /// Gives up a claim whose request failed, so a retry may use the key.
    pub async fn drop_claim(&self, user_id: i64, key: &str) -> Result<(), DbError> {
        let client = self.pool.get().await?;
        client
            .execute_traced(
                "DELETE FROM idempotency_keys \
                 WHERE user_id = $1 AND key = $2 AND order_id IS NULL",
                &[&user_id, &key],
            )
            .await?;
        Ok(())
    }

    /// Stores the order, its `order.created` event and the idempotency key's result at once.
    pub async fn create(
        &self,
        order: &NewOrder,
        idempotency_key: Option<&str>,
    ) -> Result<Order, DbError> {
        let mut client = self.pool.get().await?;
        let transaction = client.transaction().await?;
        // One customer's inserts queue on this lock (on every replica), so concurrent requests
        // cannot all see room under the cap. The count is a statement of its own: its snapshot
        // is taken after the lock is held, so it sees what the previous holder committed.
        transaction
            .execute_traced(
                "SELECT pg_advisory_xact_lock(hashtext('orders.pending'), hashtext($1))",
                &[&order.user_id.to_string()],
            )
            .await?;
        let pending: i64 = transaction
            .query_one_traced(
                "SELECT count(*) AS pending FROM orders \
                 WHERE user_id = $1 AND status = 'pending' AND deleted_at IS NULL",
                &[&order.user_id],
            )
            .await?
            .get("pending");
        if pending >= self.pending_cap {
            return Err(DbError::ConstraintViolation {
                constraint: PENDING_CAP.to_owned(),
            });
        }
        let row = transaction
            .query_one_traced(
                &format!(
                    "INSERT INTO orders (user_id, username, product_id, product_name, unit_price, \
                     quantity, total_price, reservation_id) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {COLUMNS}"
                ),
                &[
                    &order.user_id,
                    &order.username,
                    &order.product_id,
                    &order.product_name,
                    &order.unit_price,
                    &order.quantity,
                    &order.total_price,
                    &order.reservation_id,
                ],
            )
            .await?;
        let stored = order_from_row(&row);
        append_event(&transaction, &events::created(&stored)).await?;
        if let Some(key) = idempotency_key {
            transaction
                .execute_traced(
                    "UPDATE idempotency_keys SET order_id = $3 WHERE user_id = $1 AND key = $2",
                    &[&order.user_id, &key, &stored.id],
                )
                .await?;
        }
        transaction.commit().await?;
        Ok(stored)
    }

    /// An order that has not been deleted.
    pub async fn find(&self, id: i64) -> Result<Option<Order>, DbError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt_traced(
                &format!("SELECT {COLUMNS} FROM orders WHERE id = $1 AND deleted_at IS NULL"),
                &[&id],
            )
            .await?;
        Ok(row.as_ref().map(order_from_row))
    }

    /// A user's orders, newest first, after the order id `before` (keyset pagination).
    pub async fn list_for_user(
        &self,
        user_id: i64,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Order>, DbError> {
        let client = self.pool.get().await?;
        let rows = client
            .query_traced(
                &format!(
                    "SELECT {COLUMNS} FROM orders \
                     WHERE user_id = $1 AND deleted_at IS NULL AND id < $2 \
                     ORDER BY id DESC LIMIT $3"
                ),
                &[&user_id, &before.unwrap_or(i64::MAX), &limit],
            )
            .await?;
        Ok(rows.iter().map(order_from_row).collect())
    }

    /// Locks the order, lets `decide` check the change against its current state, then applies
    /// it with its event. A missing (or deleted) order is [`Refusal::NotFound`].
    pub async fn change(
        &self,
        id: i64,
        decide: impl FnOnce(&Order) -> Result<Change, Refusal>,
    ) -> Result<Order, ChangeError> {
        let mut client = self.pool.get().await?;
        let transaction = client.transaction().await?;
        let row = transaction
            .query_opt_traced(
                &format!(
                    "SELECT {COLUMNS} FROM orders WHERE id = $1 AND deleted_at IS NULL FOR UPDATE"
                ),
                &[&id],
            )
            .await?
            .ok_or(Refusal::NotFound)?;
        let current = order_from_row(&row);
        let change = decide(&current)?;
        let row = match change {
            Change::Status(next) => {
                transaction
                    .query_one_traced(
                        &format!(
                            "UPDATE orders SET status = $2, updated_at = now() WHERE id = $1 \
                             RETURNING {COLUMNS}"
                        ),
                        &[&id, &next.as_str()],
                    )
                    .await?
            }
            Change::Delete => {
                transaction
                    .query_one_traced(
                        &format!(
                            "UPDATE orders SET deleted_at = now(), updated_at = now() \
                             WHERE id = $1 RETURNING {COLUMNS}"
                        ),
                        &[&id],
                    )
                    .await?
            }
        };
        let updated = order_from_row(&row);
        append_event(
            &transaction,
            &events::changed(change, &updated, current.status),
        )
        .await?;
        transaction.commit().await?;
        Ok(updated)
    }

    /// Records that the Product Service took back the order's stock.
    pub async fn mark_released(&self, id: i64) -> Result<(), DbError> {
        let client = self.pool.get().await?;
        client
            .execute_traced(
                "UPDATE orders SET reservation_released = TRUE WHERE id = $1",
                &[&id],
            )
            .await?;
        Ok(())
    }

    /// Records that the Product Service knows this order uses its reservation.
    pub async fn mark_confirmed(&self, id: i64) -> Result<(), DbError> {
        let client = self.pool.get().await?;
        client
            .execute_traced(
                "UPDATE orders SET reservation_confirmed = TRUE WHERE id = $1",
                &[&id],
            )
            .await?;
        Ok(())
    }

    /// Orders whose reservation the Product Service has not yet been told about.
    pub async fn unconfirmed(&self, limit: i64) -> Result<Vec<(i64, Uuid)>, DbError> {
        self.reservations_where("reservation_confirmed = FALSE", limit)
            .await
    }

    /// Cancelled or deleted orders whose stock has not been confirmed released.
    pub async fn unreleased(&self, limit: i64) -> Result<Vec<(i64, Uuid)>, DbError> {
        self.reservations_where(
            "reservation_released = FALSE AND (status = 'cancelled' OR deleted_at IS NOT NULL)",
            limit,
        )
        .await
    }

    /// (order id, reservation id) of up to `limit` orders matching `condition` (a fixed SQL
    /// text, never input), oldest first.
    async fn reservations_where(
        &self,
        condition: &'static str,
        limit: i64,
    ) -> Result<Vec<(i64, Uuid)>, DbError> {
        let client = self.pool.get().await?;
        let rows = client
            .query_traced(
                &format!(
                    "SELECT id, reservation_id FROM orders WHERE {condition} ORDER BY id LIMIT $1"
                ),
                &[&limit],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| (row.get("id"), row.get("reservation_id")))
            .collect())
    }
}

/// Why a change was not made: the domain refused it, or the database failed.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error(transparent)]
    Database(#[from] DbError),
}

impl From<deadpool_postgres::PoolError> for ChangeError {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        Self::Database(error.into())
    }
}

impl From<tokio_postgres::Error> for ChangeError {
    fn from(error: tokio_postgres::Error) -> Self {
        Self::Database(error.into())
    }
}
