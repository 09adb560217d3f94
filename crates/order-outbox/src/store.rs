//! The outbox table: appending inside the transactions that change orders, and the backlog.

use deadpool_postgres::{Pool, Transaction};
use order_events::OrderEvent;
use shop_postgres::{DbError, Traced};

/// Channel the relay listens on; notified by every transaction that adds an outbox row.
pub const OUTBOX_CHANNEL: &str = "order_outbox";

/// Appends `event` to the outbox within `transaction`, with the trace context of the current
/// request so that publishing continues its trace.
pub async fn append_event(
    transaction: &Transaction<'_>,
    event: &OrderEvent,
) -> Result<(), DbError> {
    let context = crate::trace::StoredContext::current();
    transaction
        .execute_traced(
            "INSERT INTO outbox (event_id, aggregate_id, event_type, payload, traceparent, tracestate) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &event.event_id,
                &event.order.id,
                &event.event_type.as_str(),
                &event.to_json(),
                &context.traceparent,
                &context.tracestate,
            ],
        )
        .await?;
    // Delivered at commit, waking the relay at once instead of at its next poll.
    transaction
        .execute_traced(&format!("NOTIFY {OUTBOX_CHANNEL}"), &[])
        .await?;
    Ok(())
}

/// Events waiting, and the age of the oldest.
#[derive(Debug, Clone, Copy)]
pub struct Backlog {
    pub count: i64,
    pub oldest_age_secs: f64,
}

pub async fn backlog(pool: &Pool) -> Result<Backlog, DbError> {
    let client = pool.get().await?;
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
