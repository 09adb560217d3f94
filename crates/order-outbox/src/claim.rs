//! Handing a batch of the outbox to one relay. Several replicas may run relays: rows are claimed
//! with `FOR UPDATE SKIP LOCKED` inside the caller's transaction, and a row is only eligible when
//! no earlier unpublished event of the same order exists, so two relays never publish one
//! order's events out of order.

use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;
use shop_postgres::{DbError, Traced};
use uuid::Uuid;

use crate::trace::{StoredContext, publish_span};

/// A claimed event, with the span that will publish it.
#[derive(Debug)]
pub struct PendingEvent {
    pub id: i64,
    pub event_id: Uuid,
    pub event_type: String,
    pub payload: String,
    pub created_at: DateTime<Utc>,
    pub span: tracing::Span,
}

/// Locks up to `limit` publishable events, oldest first, until `transaction` ends.
pub async fn claim_batch(
    transaction: &Transaction<'_>,
    limit: i64,
    exchange: &str,
) -> Result<Vec<PendingEvent>, DbError> {
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
            &[&limit],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| {
            let event_id: Uuid = row.get("event_id");
            let stored = StoredContext {
                traceparent: row.get("traceparent"),
                tracestate: row.get("tracestate"),
            };
            PendingEvent {
                id: row.get("id"),
                event_id,
                event_type: row.get("event_type"),
                payload: row.get("payload"),
                created_at: row.get("created_at"),
                span: publish_span(exchange, event_id, &stored),
            }
        })
        .collect())
}

/// Marks the confirmed events published.
pub async fn mark_published(transaction: &Transaction<'_>, ids: &[i64]) -> Result<(), DbError> {
    if !ids.is_empty() {
        transaction
            .execute_traced(
                "UPDATE outbox SET published_at = now() WHERE id = ANY($1)",
                &[&ids],
            )
            .await?;
    }
    Ok(())
}

/// Counts a failed attempt on the event that failed, with the error for operators.
pub async fn record_failure(
    transaction: &Transaction<'_>,
    id: i64,
    error: &str,
) -> Result<(), DbError> {
    transaction
        .execute_traced(
            "UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE id = $1",
            &[&id, &error],
        )
        .await?;
    Ok(())
}
