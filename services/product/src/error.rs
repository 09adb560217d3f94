//! The service's one error type and its single mapping to problem+json.

use salvo::http::StatusCode;
use salvo::oapi::{Components, EndpointOutRegister, Operation};
use salvo::prelude::*;
use service_runtime::db::DbError;
use service_runtime::problem::{FieldError, Problem, register_problem_responses};

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

impl ProductError {
    pub fn into_problem(self) -> Problem {
        match self {
            Self::Request(problem) => problem,
            Self::Validation(errors) => Problem::validation(errors),
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
            Self::Database(DbError::Unavailable(_)) => Problem::unavailable("The product database"),
            // The domain types mirror every constraint; one firing is a bug, not bad input.
            Self::Database(_) | Self::Encoding(_) => Problem::internal(),
        }
    }
}

#[async_trait]
impl Writer for ProductError {
    async fn write(self, req: &mut Request, depot: &mut Depot, res: &mut Response) {
        match &self {
            Self::Database(DbError::Unavailable(cause)) => {
                tracing::warn!(error = %cause, "database unavailable");
            }
            Self::Database(_) | Self::Encoding(_) => {
                tracing::error!(error = &self as &dyn std::error::Error, "request failed");
            }
            _ => {}
        }
        self.into_problem().write(req, depot, res).await;
    }
}

impl EndpointOutRegister for ProductError {
    fn register(components: &mut Components, operation: &mut Operation) {
        register_problem_responses(
            components,
            operation,
            // Every status this type or the auth hoops map to; each endpoint's `status_codes`
            // keeps its own.
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
