//! The reservations table: a reservation confirmed by its order, or swept back to stock.

use std::time::Duration;

use deadpool_postgres::Pool;
use shop_postgres::{DbError, Traced};
use uuid::Uuid;

use crate::repository::restock;

/// Reservations swept per statement.
pub(super) const BATCH: i64 = 500;

/// What a confirmation came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfirmOutcome {
    /// Confirmed now, or earlier (a repeat).
    Confirmed,
    /// It had been swept; its stock was taken again, leaving the product at `version`.
    Retaken {
        product_id: i64,
        version: i64,
    },
    /// It had been swept and the stock is gone meanwhile.
    Lost,
    /// Given back already (the order was cancelled before the confirmation came).
    Released,
    NotFound,
}

/// Reservations swept in one round, and the products whose stock they returned (id, version).
#[derive(Debug, Default)]
pub struct Swept {
    pub reservations: u64,
    pub products: Vec<(i64, i64)>,
}

#[derive(Debug, Clone)]
pub struct ReservationLedger {
    pool: Pool,
}

impl ReservationLedger {
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }

    /// Marks a reservation as used by a stored order, so it is never swept.
    pub async fn confirm(&self, reservation_id: Uuid) -> Result<ConfirmOutcome, DbError> {
        let mut client = self.pool.get().await?;
        let transaction = client.transaction().await?;
        let current = transaction
            .query_opt_traced(
                "SELECT status, product_id, quantity FROM reservations \
                 WHERE reservation_id = $1 FOR UPDATE",
                &[&reservation_id],
            )
            .await?;
        let Some(current) = current else {
            return Ok(ConfirmOutcome::NotFound);
        };
        let outcome = match current.get::<_, &str>("status") {
            "confirmed" => return Ok(ConfirmOutcome::Confirmed),
            "released" => return Ok(ConfirmOutcome::Released),
            "expired" => {
                let product_id: i64 = current.get("product_id");
                let quantity: i32 = current.get("quantity");
                let retaken = transaction
                    .query_opt_traced(
                        "UPDATE products SET quantity = quantity - $2, version = version + 1, \
                         updated_at = now() WHERE id = $1 AND quantity >= $2 RETURNING version",
                        &[&product_id, &quantity],
                    )
                    .await?;
                match retaken {
                    Some(row) => ConfirmOutcome::Retaken {
                        product_id,
                        version: row.get("version"),
                    },
                    None => return Ok(ConfirmOutcome::Lost),
                }
            }
            _ => ConfirmOutcome::Confirmed,
        };
        transaction
            .execute_traced(
                "UPDATE reservations SET status = 'confirmed', confirmed_at = now(), \
                 released_at = NULL WHERE reservation_id = $1",
                &[&reservation_id],
            )
            .await?;
        transaction.commit().await?;
        Ok(outcome)
    }

    /// Returns to stock up to one batch of reservations older than `ttl` that no order
    /// confirmed.
    pub async fn sweep(&self, ttl: Duration) -> Result<Swept, DbError> {
        let mut client = self.pool.get().await?;
        let transaction = client.transaction().await?;
        // Summed per product and applied in id order, so two sweepers never lock the same
        // products in opposite orders.
        let returned = transaction
            .query_traced(
                "WITH swept AS ( \
                   UPDATE reservations SET status = 'expired', released_at = now() \
                   WHERE status = 'reserved' AND reservation_id IN ( \
                     SELECT reservation_id FROM reservations WHERE status = 'reserved' \
                     AND created_at < now() - make_interval(secs => $1) \
                     ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED) \
                   RETURNING product_id, quantity) \
                 SELECT product_id, count(*) AS reservations, sum(quantity)::INTEGER AS units \
                 FROM swept GROUP BY product_id ORDER BY product_id",
                &[&ttl.as_secs_f64(), &BATCH],
            )
            .await?;
        let mut swept = Swept::default();
        for row in returned {
            let product_id: i64 = row.get("product_id");
            let units: i32 = row.get("units");
            swept.reservations += u64::try_from(row.get::<_, i64>("reservations")).unwrap_or(0);
            // A deleted product gets nothing back, as with an ordinary release.
            if let Some(version) = restock(&transaction, product_id, units).await? {
                swept.products.push((product_id, version));
            }
        }
        transaction.commit().await?;
        Ok(swept)
    }
}
