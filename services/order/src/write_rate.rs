//! The per-customer rate of order writes (`ORDER_WRITES_PER_USER` per
//! `ORDER_WRITE_WINDOW_SECS`), counted in PostgreSQL so that every replica sees the same count.
//!
//! Windows are fixed buckets of the database clock (not each replica's clock). One upsert both
//! counts the write and refuses it when the window is full, so two replicas racing for the last
//! slot cannot both take it. A refused write is not counted, so a client that keeps retrying
//! gets in again when the window turns. A fixed window lets up to twice the limit through
//! around a window boundary; that is enough to stop a customer churning reservations, which is
//! what the limit is for.

use std::time::Duration;

use deadpool_postgres::Pool;
use shop_postgres::{DbError, Traced};

/// Whether a write may go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Admitted,
    /// The window is full; it turns after this many whole seconds (at least 1).
    Refused {
        retry_after: u64,
    },
}

#[derive(Debug, Clone)]
pub struct WriteRate {
    pool: Pool,
    limit: i32,
    window_secs: f64,
}

impl WriteRate {
    pub fn new(pool: Pool, limit: i64, window: Duration) -> Self {
        Self {
            pool,
            // Any limit beyond i32 is no limit a customer could reach.
            limit: i32::try_from(limit).unwrap_or(i32::MAX),
            window_secs: window.as_secs_f64(),
        }
    }

    /// Counts one write of `user_id` in the current window, unless the window is full.
    pub async fn admit(&self, user_id: i64) -> Result<Admission, DbError> {
        let client = self.pool.get().await?;
        // The window's start is computed once, in the CTE, so the insert and the refusal below
        // speak of the same window even if the statement straddles its end.
        let row = client
            .query_one_traced(
                "WITH bucket AS (SELECT to_timestamp(floor(extract(epoch FROM now()) / $2::float8) * $2::float8) \
                                        AS window_start), \
                 counted AS ( \
                     INSERT INTO order_write_counts (user_id, window_start, writes) \
                     SELECT $1::int8, window_start, 1 FROM bucket \
                     ON CONFLICT (user_id, window_start) DO UPDATE \
                     SET writes = order_write_counts.writes + 1 \
                     WHERE order_write_counts.writes < $3::int4 \
                     RETURNING writes) \
                 SELECT EXISTS (SELECT 1 FROM counted) AS admitted, \
                        ceil(extract(epoch FROM (window_start - now()))::float8 + $2::float8) \
                            AS retry_after \
                 FROM bucket",
                &[&user_id, &self.window_secs, &self.limit],
            )
            .await?;
        if row.get("admitted") {
            return Ok(Admission::Admitted);
        }
        let retry_after: f64 = row.get("retry_after");
        // Whole seconds of at most one window; never 0, which would invite an immediate retry.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let retry_after = retry_after.max(1.0) as u64;
        Ok(Admission::Refused { retry_after })
    }

    /// Deletes the counts of windows that have ended; returns how many.
    pub async fn purge(&self, batch: i64) -> Result<u64, DbError> {
        let client = self.pool.get().await?;
        client
            .execute_traced(
                "DELETE FROM order_write_counts WHERE ctid IN (SELECT ctid FROM order_write_counts \
                 WHERE window_start < now() - make_interval(secs => $1) LIMIT $2)",
                &[&self.window_secs, &batch],
            )
            .await
    }
}
