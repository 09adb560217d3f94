//! The service's one error type and its single mapping to problem+json.

use shop_http::problem::{FieldError, Problem};
use shop_postgres::DbError;

#[derive(Debug, thiserror::Error)]
pub enum ProductError {
    /// A problem already decided at the edge (bad body, wrong media type, …).
    #[error("{}", .0.title)]
    Request(Problem),
    #[error("invalid fields")]
    Validation(Vec<FieldError>),
    #[error("product not found")]
    ProductNotFound,
    #[error("not enough stock")]
    InsufficientStock { available: i32, requested: i32 },
    #[error("reservation id reused with another product or quantity")]
    ReservationMismatch,
    #[error("reservation not found")]
    ReservationNotFound,
    #[error("reservation given back already")]
    ReservationReleased,
    #[error("reservation swept and its stock gone")]
    ReservationExpired,
    #[error(transparent)]
    Database(#[from] DbError),
    #[error("could not encode a response")]
    Encoding(#[from] serde_json::Error),
}

impl From<Problem> for ProductError {
    fn from(problem: Problem) -> Self {
        Self::Request(problem)
    }
}

impl From<FieldError> for ProductError {
    fn from(error: FieldError) -> Self {
        Self::Validation(vec![error])
    }
}

shop_http::api_error! {
    impl ApiError for ProductError {
        fn problem(&self) -> Problem {
            match self {
                Self::Request(problem) => edge problem.clone(),
                Self::Validation(errors) => Problem::validation(errors.clone()),
                Self::ProductNotFound => Problem::new(
                    StatusCode::NOT_FOUND,
                    "product-not-found",
                    "Product not found",
                ),
                Self::InsufficientStock {
                    available,
                    requested,
                } => Problem::new(
                    StatusCode::CONFLICT,
                    "insufficient-stock",
                    "Not enough stock",
                )
                .detail(format!("{requested} requested, {available} available.")),
                Self::ReservationMismatch => Problem::new(
                    StatusCode::CONFLICT,
                    "reservation-mismatch",
                    "Reservation id already used",
                )
                .detail(
                    "This reservation_id exists with another product or quantity; \
                     use a new id for a new reservation.",
                ),
                Self::ReservationNotFound => Problem::new(
                    StatusCode::NOT_FOUND,
                    "reservation-not-found",
                    "Reservation not found",
                ),
                Self::ReservationReleased => Problem::new(
                    StatusCode::CONFLICT,
                    "reservation-released",
                    "Reservation given back already",
                ),
                Self::ReservationExpired => Problem::new(
                    StatusCode::CONFLICT,
                    "reservation-expired",
                    "Reservation expired",
                )
                .detail("No order confirmed it in time; its stock was returned and sold since."),
                Self::Database(DbError::Unavailable(_)) => {
                    Problem::unavailable("The product database")
                }
                // The domain types mirror every constraint; one firing is a bug, not bad input.
                Self::Database(_) | Self::Encoding(_) => Problem::internal(),
            }
        }
    }
}
