//! The Order Service's one error type and its single mapping to problem+json.

use salvo::http::StatusCode;
use salvo::oapi::{Components, EndpointOutRegister, Operation};
use salvo::prelude::*;
use service_runtime::db::DbError;
use service_runtime::problem::{FieldError, Problem, register_problem_responses};

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
    #[error(transparent)]
    Database(#[from] DbError),
}

impl From<Problem> for OrderError {
    fn from(problem: Problem) -> Self {
        Self::Request(problem)
    }
}

impl OrderError {
    pub fn into_problem(self) -> Problem {
        let detail = self.to_string();
        match self {
            Self::Request(problem) => problem,
            Self::Validation(errors) => Problem::validation(errors),
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
            .detail(if reason.is_empty() { detail } else { reason }),
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
            Self::Database(DbError::Unavailable(_)) => Problem::unavailable("The order database"),
            Self::Database(_) => Problem::internal(),
        }
    }
}

#[async_trait]
impl Writer for OrderError {
    async fn write(self, req: &mut Request, depot: &mut Depot, res: &mut Response) {
        match &self {
            Self::Database(DbError::Unavailable(cause)) => {
                tracing::warn!(error = %cause, "database unavailable");
            }
            Self::Database(_) => {
                tracing::error!(error = &self as &dyn std::error::Error, "request failed");
            }
            Self::ProductUnavailable(reason) => {
                tracing::warn!(reason = %reason, "product service unavailable");
            }
            _ => {}
        }
        self.into_problem().write(req, depot, res).await;
    }
}

impl EndpointOutRegister for OrderError {
    fn register(components: &mut Components, operation: &mut Operation) {
        // Every status this type maps to; each endpoint's `status_codes` keeps its own.
        register_problem_responses(
            components,
            operation,
            &[
                StatusCode::BAD_REQUEST,
                StatusCode::UNAUTHORIZED,
                StatusCode::FORBIDDEN,
                StatusCode::NOT_FOUND,
                StatusCode::CONFLICT,
                StatusCode::PAYLOAD_TOO_LARGE,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                StatusCode::UNPROCESSABLE_ENTITY,
                StatusCode::INTERNAL_SERVER_ERROR,
                StatusCode::SERVICE_UNAVAILABLE,
            ],
        );
    }
}
