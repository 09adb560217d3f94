//! The Order Service's one error type and its single mapping to problem+json.

use shop_http::problem::{FieldError, Problem};
use shop_postgres::DbError;

use crate::domain::TransitionError;

#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    #[error("{}", .0.title)]
    Request(Problem),
    #[error("invalid fields")]
    Validation(Vec<FieldError>),
    #[error("order not found")]
    NotFound,
    #[error(transparent)]
    Transition(#[from] TransitionError),
    #[error("an order that is {0} cannot be deleted")]
    NotDeletable(&'static str),
    #[error("product {0} does not exist")]
    UnknownProduct(i64),
    #[error("not enough stock")]
    InsufficientStock(String),
    #[error("the product service refused the order: {0}")]
    ProductRejected(String),
    #[error("the product service is unavailable: {0}")]
    ProductUnavailable(String),
    #[error("idempotency key reused with another request")]
    KeyReused,
    #[error("a request with this idempotency key is in progress")]
    KeyInProgress,
    #[error("too many pending orders")]
    TooManyPending,
    /// The customer's order writes in this window are used up.
    #[error("too many order writes")]
    TooManyWrites { retry_after: u64 },
    #[error(transparent)]
    Database(#[from] DbError),
    /// The task placing the order ended without an answer (it panicked).
    #[error("placing the order stopped before it answered")]
    Interrupted,
}

impl From<Problem> for OrderError {
    fn from(problem: Problem) -> Self {
        Self::Request(problem)
    }
}

shop_http::api_error! {
    impl ApiError for OrderError {
        fn problem(&self) -> Problem {
            let detail = self.to_string();
            match self {
                Self::Request(problem) => edge problem.clone(),
                Self::Validation(errors) => Problem::validation(errors.clone()),
                Self::NotFound => {
                    Problem::new(StatusCode::NOT_FOUND, "order-not-found", "Order not found")
                }
                Self::Transition(TransitionError::AdminOnly { .. }) => {
                    Problem::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden").detail(detail)
                }
                Self::Transition(TransitionError::Illegal { .. }) => Problem::new(
                    StatusCode::CONFLICT,
                    "illegal-transition",
                    "Status change not allowed",
                )
                .detail(detail),
                Self::NotDeletable(_) => Problem::new(
                    StatusCode::CONFLICT,
                    "order-not-deletable",
                    "Order cannot be deleted",
                )
                .detail(format!("{detail}; only pending or cancelled orders can.")),
                Self::UnknownProduct(_) => {
                    Problem::validation(vec![FieldError::new("product_id", "no such product")])
                }
                Self::InsufficientStock(reason) => Problem::new(
                    StatusCode::CONFLICT,
                    "insufficient-stock",
                    "Not enough stock",
                )
                .detail(if reason.is_empty() {
                    detail
                } else {
                    reason.clone()
                }),
                Self::ProductRejected(reason) => Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "order-rejected",
                    "The order was refused",
                )
                .detail(reason),
                Self::ProductUnavailable(_) => Problem::unavailable("The product catalogue"),
                Self::KeyReused => Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "idempotency-key-reused",
                    "Idempotency key reused",
                )
                .detail("This Idempotency-Key was used with a different request body."),
                Self::KeyInProgress => Problem::new(
                    StatusCode::CONFLICT,
                    "request-in-progress",
                    "Request in progress",
                )
                .detail("A request with this Idempotency-Key is still being processed.")
                .retry_after(1),
                Self::TooManyPending => Problem::new(
                    StatusCode::CONFLICT,
                    "too-many-pending-orders",
                    "Too many pending orders",
                )
                .detail(
                    "Complete or cancel a pending order first; pending orders expire on their own.",
                ),
                Self::TooManyWrites { retry_after } => Problem::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too-many-order-writes",
                    "Too many order changes",
                )
                .detail("Wait before placing or changing another order.")
                .retry_after(*retry_after),
                Self::Database(DbError::Unavailable(_)) => Problem::unavailable("The order database"),
                Self::Database(_) | Self::Interrupted => Problem::internal(),
            }
        }
    }
}
