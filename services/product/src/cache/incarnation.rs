//! Which database the cache belongs to.
//!
//! Cache entries and tombstones are guarded by each row's `version`, and versions start again
//! at 1 in a new database. A Redis that outlives its database (the database dropped and created
//! again, or restored from a backup) would then keep serving the old rows and refuse the new
//! database's fills and tombstones as "older". So every cached value (products and listing
//! pages) begins with the database's incarnation, and a value of another incarnation is a miss
//! that the next fill or tombstone overwrites: a new or restored database never serves, nor is
//! held back by, the values of another. The keys stay those of the spec (`product:{id}`), so an
//! operator finds a product under its id.
//!
//! The incarnation combines:
//! - the id in `cache_incarnation`, made when the schema is created (a schema dropped and
//!   migrated again gets a new one);
//! - the database's OID, new when a database is created, so a dump restored into a new
//!   database (which carries the old id with it) still differs;
//! - the WAL timeline, new after a point-in-time recovery or a promotion, so a cluster restored
//!   from a base backup (same id, same OID) differs too. Reading it needs a role allowed to call
//!   `pg_control_checkpoint()`; without that it is left out and a restore in place needs a
//!   `FLUSHDB` of the cache Redis (the README says so).
//!
//! It is read once at start: restoring a database means restarting its services.

use deadpool_postgres::Pool;
use shop_postgres::{DbError, Traced};
use uuid::Uuid;

/// The incarnation of the database behind `pool`, as a short value head (no `|`).
pub async fn read(pool: &Pool) -> Result<String, DbError> {
    let client = pool.get().await?;
    let row = client
        .query_one_traced(
            "SELECT (SELECT id FROM cache_incarnation) AS id, \
                    (SELECT oid::bigint FROM pg_database WHERE datname = current_database()) AS oid",
            &[],
        )
        .await?;
    let id: Uuid = row.get("id");
    let oid: i64 = row.get("oid");
    let timeline = client
        .query_one_traced(
            "SELECT timeline_id::bigint AS timeline FROM pg_control_checkpoint()",
            &[],
        )
        .await
        .ok()
        .map(|row| row.get::<_, i64>("timeline"));
    // 64 random bits are plenty to tell a handful of databases apart and keep keys short.
    let id = &id.simple().to_string()[..16];
    Ok(match timeline {
        Some(timeline) => format!("{id}.{oid}.{timeline}"),
        None => format!("{id}.{oid}"),
    })
}
