//! `GET /products/{id}`: one product, public, through the Redis cache.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use salvo::http::header::{CONTENT_TYPE, HeaderValue};
use salvo::prelude::*;
use shop_http::server::state;

use super::{ProductResponse, product_id};
use crate::cache::{CachedProduct, Lookup};
use crate::error::ProductError;
use crate::state::AppState;

/// Get one product (public; served from the Redis cache when possible).
///
/// Never older than a product update or deletion that has returned.
#[endpoint(
    tags("products"),
    parameters(("id" = i64, Path, description = "Product id")),
    responses((status_code = 200, description = "The product", body = ProductResponse))
)]
pub async fn get_product(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ProductError> {
    let id = product_id(req)?;
    let state = state::<Arc<AppState>>(depot);
    // Taken before any read: a local copy's age counts from when its read began.
    let read_at = Instant::now();
    let json = match state.caches.look_up_copy(id) {
        Lookup::Copy(json) => {
            state.metrics.local_copy_hit();
            json
        }
        Lookup::Lead(lead) => {
            let json = read_and_keep(state, id, read_at).await?;
            drop(lead);
            json
        }
        Lookup::Follow(under_way) => {
            under_way.finished().await;
            match state.caches.local.get(id) {
                Some(json) => {
                    state.metrics.local_copy_hit();
                    json
                }
                None => read_and_keep(state, id, read_at).await?,
            }
        }
    };
    state.metrics.product_viewed();
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res.body(json);
    Ok(())
}

/// The product's JSON read through the caches; kept as this replica's copy when it may be.
async fn read_and_keep(state: &AppState, id: i64, read_at: Instant) -> Result<Bytes, ProductError> {
    let (json, recorded) = read_through_cache(state, id).await?;
    // Only a read that Redis recorded as this replica's may be kept: writes ask the recorded
    // replicas, and no other, to drop their copies.
    if recorded {
        state.caches.local.keep(id, read_at, json.clone());
    }
    Ok(json)
}

/// The product's JSON from Redis, or from PostgreSQL (then cached), and whether Redis recorded
/// this replica as holding it.
async fn read_through_cache(state: &AppState, id: i64) -> Result<(Bytes, bool), ProductError> {
    let holder = state.caches.holder();
    let found = state.caches.entries.get(id, holder).await;
    let recorded = holder.is_some() && found.reached_redis();
    // The cached bytes are the response: no parsing on the hot path.
    let stamp = match found {
        CachedProduct::Hit(json) => return Ok((json, recorded)),
        CachedProduct::Miss { stamp } => stamp,
    };
    let product = state
        .products
        .find(id)
        .await?
        .ok_or(ProductError::ProductNotFound)?;
    let json = serde_json::to_vec(&ProductResponse::from(&product))?;
    if let Some(stamp) = stamp {
        state
            .caches
            .entries
            .fill(id, product.version, stamp, &json)
            .await;
    }
    Ok((Bytes::from(json), recorded))
}
