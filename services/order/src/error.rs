//! The Order Service's HTTP error and its single mapping to problem+json. Commands and the
//! domain speak their own errors ([`CommandError`], [`OutOfRange`]); this is where they become
//! problem documents.

use shop_http::problem::{FieldError, Problem};
use shop_postgres::DbError;

use crate::commands::CommandError;
use crate::domain::{OutOfRange, TransitionError};

#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    /// A request the edge refused before any command ran (body, media type, header).
    #[error("{}", .0.title)]
    Request(Problem),
    #[error("invalid fields")]
    Validation(Vec<FieldError>),
    /// A command's outcome; reads through the repository end in the same ones (not found,
    /// database), so they are told the same way.
    #[error(transparent)]
    Command(#[from] CommandError),
}

impl From<Problem> for OrderError {
    fn from(problem: Problem) -> Self {
        Self::Request(problem)
    }
}

impl From<DbError> for OrderError {
    fn from(error: DbError) -> Self {
        Self::Command(CommandError::Database(error))
    }
}

impl From<OutOfRange> for FieldError {
    fn from(error: OutOfRange) -> Self {
        Self::new(error.field, error.to_string())
    }
}

shop_http::api_error! {
    impl ApiError for OrderError {
        fn problem(&self) -> Problem {
            let detail = self.to_string();
            match self {
                Self::Request(problem) => edge problem.clone(),
                Self::Validation(errors) => Problem::validation(errors.clone()),
                Self::Command(CommandError::NotFound) => {
                    Problem::new(StatusCode::NOT_FOUND, "order-not-found", "Order not found")
                }
                Self::Command(CommandError::Transition(TransitionError::AdminOnly { .. })) => {
                    Problem::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden").detail(detail)
                }
                Self::Command(CommandError::Transition(TransitionError::Illegal { .. })) => {
                    Problem::new(
                        StatusCode::CONFLICT,
                        "illegal-transition",
                        "Status change not allowed",
                    )
                    .detail(detail)
                }
                Self::Command(CommandError::NotDeletable(_)) => Problem::new(
                    StatusCode::CONFLICT,
                    "order-not-deletable",
                    "Order cannot be deleted",
                )
                .detail(format!("{detail}; only pending or cancelled orders can.")),
                Self::Command(CommandError::UnknownProduct(_)) => {
                    Problem::validation(vec![FieldError::new("product_id", "no such product")])
                }
                Self::Command(CommandError::InsufficientStock(reason)) => Problem::new(
                    StatusCode::CONFLICT,
                    "insufficient-stock",
                    "Not enough stock",
                )
                .detail(if reason.is_empty() {
                    detail
                } else {
                    reason.clone()
                }),
                Self::Command(CommandError::ProductRejected(reason)) => Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "order-rejected",
                    "The order was refused",
                )
                .detail(reason),
                Self::Command(CommandError::ProductUnavailable(_)) => {
                    Problem::unavailable("The product catalogue")
                }
                Self::Command(CommandError::KeyReused) => Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "idempotency-key-reused",
                    "Idempotency key reused",
                )
                .detail("This Idempotency-Key was used with a different request body."),
                Self::Command(CommandError::KeyInProgress) => Problem::new(
                    StatusCode::CONFLICT,
                    "request-in-progress",
                    "Request in progress",
                )
                .detail("A request with this Idempotency-Key is still being processed.")
                .retry_after(1),
                Self::Command(CommandError::TooManyPending) => Problem::new(
                    StatusCode::CONFLICT,
                    "too-many-pending-orders",
                    "Too many pending orders",
                )
                .detail(
                    "Complete or cancel a pending order first; pending orders expire on their own.",
                ),
                Self::Command(CommandError::TooManyWrites { retry_after }) => Problem::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too-many-order-writes",
                    "Too many order changes",
                )
                .detail("Wait before placing or changing another order.")
                .retry_after(*retry_after),
                Self::Command(CommandError::Database(DbError::Unavailable(_))) => {
                    Problem::unavailable("The order database")
                }
                Self::Command(CommandError::Database(_) | CommandError::Interrupted) => {
                    Problem::internal()
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use shop_http::api_error::ApiError;

    use super::*;
    use crate::domain::{OrderStatus, Quantity};

    fn problem(error: impl Into<OrderError>) -> Problem {
        error.into().problem()
    }

    /// The details built from a command's outcome read as they always have: clients show them.
    #[test]
    fn details_come_from_the_outcome() {
        let refused = problem(CommandError::NotDeletable(OrderStatus::Shipped));
        assert_eq!(
            refused.detail.as_deref(),
            Some(
                "an order that is shipped cannot be deleted; only pending or cancelled orders can."
            )
        );
        let forbidden = problem(CommandError::Transition(TransitionError::AdminOnly {
            to: "confirmed",
        }));
        assert_eq!(forbidden.status, 403);
        assert_eq!(
            forbidden.detail.as_deref(),
            Some("only an admin may move an order to confirmed")
        );
        let no_reason = problem(CommandError::InsufficientStock(String::new()));
        assert_eq!(no_reason.detail.as_deref(), Some("not enough stock"));
        let reason = problem(CommandError::InsufficientStock("only 3 left".into()));
        assert_eq!(reason.detail.as_deref(), Some("only 3 left"));
    }

    #[test]
    fn refusals_to_wait_carry_retry_after() {
        let writes = problem(CommandError::TooManyWrites { retry_after: 17 });
        assert_eq!((writes.status, writes.retry_after_secs), (429, Some(17)));
        let in_progress = problem(CommandError::KeyInProgress);
        assert_eq!(
            (in_progress.status, in_progress.retry_after_secs),
            (409, Some(1))
        );
    }

    #[test]
    fn a_database_outage_is_a_503_and_any_other_failure_a_500() {
        let down = problem(DbError::Unavailable("refused".into()));
        assert_eq!(down.status, 503);
        let broken = problem(DbError::ConstraintViolation {
            constraint: "orders_quantity_check".into(),
        });
        assert_eq!(broken.status, 500);
        assert_eq!(problem(CommandError::Interrupted).status, 500);
    }

    #[test]
    fn an_out_of_range_quantity_names_its_field() {
        let error = FieldError::from(Quantity::parse(0).unwrap_err());
        assert_eq!(
            error,
            FieldError::new("quantity", "must be between 1 and 10000")
        );
    }
}
