//! Stock reservations for orders: internal routes, admitted only with the service credential
//! (`X-Service-Token`), never with a user's token.

use std::sync::Arc;

use salvo::http::StatusCode;
use salvo::prelude::*;
use shop_http::body::{self};
use shop_http::problem::FieldError;
use shop_http::server::state;
use uuid::Uuid;

use crate::domain::ReservedQuantity;
use crate::error::ProductError;
use crate::repository::{ReservationRecord, ReserveOutcome};
use crate::reservations::ConfirmOutcome;
use crate::state::AppState;

pub use shop_contract::product::{ReservationRequest, ReservationResponse};

impl From<ReservationRecord> for ReservationResponse {
    fn from(record: ReservationRecord) -> Self {
        Self {
            reservation_id: record.reservation_id,
            product_id: record.product_id,
            product_name: record.product_name,
            unit_price: record.unit_price,
            quantity: record.quantity,
            status: record.status,
        }
    }
}

/// Reserve stock for an order (internal, service credential).
///
/// Atomic: stock never goes below zero under any concurrency. Idempotent per `reservation_id`:
/// a repeat with the same body answers 200 with the stored reservation (and its current
/// status); with another product or quantity, 409 `urn:problem:reservation-mismatch`. Not
/// enough stock: 409 `urn:problem:insufficient-stock`. Unknown product: 404
/// `urn:problem:product-not-found`.
#[endpoint(
    tags("internal"),
    request_body = ReservationRequest,
    responses(
        (status_code = 201, description = "Stock reserved", body = ReservationResponse),
        (status_code = 200, description = "Repeated request: the existing reservation", body = ReservationResponse)
    )
)]
pub async fn reserve_stock(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ProductError> {
    let request: ReservationRequest = body::json(req).await?;
    let quantity = ReservedQuantity::parse(request.quantity)?;
    if request.product_id <= 0 {
        return Err(ProductError::ProductNotFound);
    }
    let state = state::<Arc<AppState>>(depot);
    let outcome = state
        .products
        .reserve(request.reservation_id, request.product_id, quantity)
        .await?;
    let (status, reservation) = match outcome {
        ReserveOutcome::Created {
            reservation,
            version,
        } => {
            state
                .caches
                .product_changed(reservation.product_id, version)
                .await;
            state.metrics.reservation("reserved");
            tracing::info!(
                reservation_id = %reservation.reservation_id,
                product_id = reservation.product_id,
                quantity = reservation.quantity,
                "stock reserved"
            );
            (StatusCode::CREATED, reservation)
        }
        ReserveOutcome::Existing(existing)
            if existing.product_id == request.product_id
                && existing.quantity == quantity.value() =>
        {
            state.metrics.reservation("repeated");
            (StatusCode::OK, existing)
        }
        ReserveOutcome::Existing(_) => return Err(ProductError::ReservationMismatch),
        ReserveOutcome::ProductNotFound => return Err(ProductError::ProductNotFound),
        ReserveOutcome::InsufficientStock { available } => {
            state.metrics.reservation("insufficient");
            return Err(ProductError::InsufficientStock {
                available,
                requested: quantity.value(),
            });
        }
    };
    res.status_code(status);
    res.render(Json(ReservationResponse::from(reservation)));
    Ok(())
}

/// Release a reservation's stock (internal, service credential).
///
/// Returns the units to stock exactly once; repeats and unknown ids are 204 too.
#[endpoint(
    tags("internal"),
    parameters(
        ("reservation_id" = Uuid, Path, description = "The reservation to release")
    ),
    responses((status_code = 204, description = "Released (or nothing to release)"))
)]
pub async fn release_stock(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ProductError> {
    let reservation_id = reservation_id(req)?;
    let state = state::<Arc<AppState>>(depot);
    if let Some((product_id, version)) = state.products.release(reservation_id).await? {
        state.caches.product_changed(product_id, version).await;
        state.metrics.reservation("released");
        tracing::info!(%reservation_id, product_id, "stock released");
    }
    res.status_code(StatusCode::NO_CONTENT);
    Ok(())
}

/// Confirm that a stored order uses a reservation (internal, service credential).
///
/// A confirmed reservation is never swept back to stock. Repeats are 204 too. One swept already
/// (no confirmation within `RESERVATION_TTL_SECS`) takes its stock again if there is enough;
/// otherwise 409 `urn:problem:reservation-expired`. Given back already: 409
/// `urn:problem:reservation-released`. Unknown id: 404 `urn:problem:reservation-not-found`.
#[endpoint(
    tags("internal"),
    parameters(
        ("reservation_id" = Uuid, Path, description = "The reservation to confirm")
    ),
    responses((status_code = 204, description = "Confirmed"))
)]
pub async fn confirm_reservation(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ProductError> {
    let reservation_id = reservation_id(req)?;
    let state = state::<Arc<AppState>>(depot);
    match state.ledger.confirm(reservation_id).await? {
        ConfirmOutcome::Confirmed => state.metrics.reservation("confirmed"),
        ConfirmOutcome::Retaken {
            product_id,
            version,
        } => {
            state.caches.product_changed(product_id, version).await;
            state.metrics.reservation("retaken");
            tracing::warn!(%reservation_id, "reservation confirmed after it was swept; stock taken again");
        }
        ConfirmOutcome::Lost => {
            state.metrics.reservation("lost");
            tracing::error!(%reservation_id, "reservation confirmed after it was swept; the stock is gone");
            return Err(ProductError::ReservationExpired);
        }
        ConfirmOutcome::Released => return Err(ProductError::ReservationReleased),
        ConfirmOutcome::NotFound => return Err(ProductError::ReservationNotFound),
    }
    res.status_code(StatusCode::NO_CONTENT);
    Ok(())
}

/// The `{reservation_id}` of the path.
fn reservation_id(req: &Request) -> Result<Uuid, FieldError> {
    req.param::<String>("reservation_id")
        .and_then(|raw| Uuid::parse_str(&raw).ok())
        .ok_or_else(|| FieldError::new("reservation_id", "must be a UUID"))
}
