//! The service's one error type and its single mapping to problem+json.

use std::time::Duration;

use salvo::http::StatusCode;
use salvo::oapi::{Components, EndpointOutRegister, Operation};
use salvo::prelude::*;
use service_runtime::db::DbError;
use service_runtime::problem::{FieldError, Problem, register_problem_responses};

use crate::password::HashError;

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// A problem already decided at the edge (bad body, wrong media type, …).
    #[error("{}", .0.title)]
    Request(Problem),
    #[error("invalid fields")]
    Validation(Vec<FieldError>),
    #[error("username is taken")]
    UsernameTaken,
    #[error("invalid username or password")]
    InvalidCredentials,
    #[error("too many failed logins")]
    TooManyAttempts { retry_after: Duration },
    #[error("too many registrations from this client")]
    TooManyRegistrations { retry_after: Duration },
    #[error(transparent)]
    Database(#[from] DbError),
    #[error(transparent)]
    Hash(#[from] HashError),
}

/// Rounded up, so a client that waits exactly this long is let in.
fn whole_seconds(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

impl From<Problem> for UserError {
    fn from(problem: Problem) -> Self {
        Self::Request(problem)
    }
}

impl UserError {
    pub fn into_problem(self) -> Problem {
        match self {
            Self::Request(problem) => problem,
            Self::Validation(errors) => Problem::validation(errors),
            Self::UsernameTaken => Problem::new(
                StatusCode::CONFLICT,
                "username-taken",
                "Username already registered",
            )
            .detail("Choose another username; names are compared without regard to case."),
            Self::InvalidCredentials => Problem::new(
                StatusCode::UNAUTHORIZED,
                "invalid-credentials",
                "Invalid username or password",
            ),
            Self::TooManyAttempts { retry_after } => Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too-many-login-failures",
                "Too many failed logins",
            )
            .detail("Wait before trying again.")
            .retry_after(whole_seconds(retry_after)),
            Self::TooManyRegistrations { retry_after } => Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too-many-registrations",
                "Too many registrations from this client",
            )
            .detail("Wait before registering another account.")
            .retry_after(whole_seconds(retry_after)),
            Self::Hash(HashError::Busy) => Problem::unavailable("Password checking"),
            Self::Database(DbError::Unavailable(_)) => Problem::unavailable("The user database"),
            Self::Database(DbError::UniqueViolation { .. }) => Self::UsernameTaken.into_problem(),
            Self::Database(_) | Self::Hash(_) => Problem::internal(),
        }
    }
}

#[async_trait]
impl Writer for UserError {
    async fn write(self, req: &mut Request, depot: &mut Depot, res: &mut Response) {
        match &self {
            Self::Hash(HashError::Busy) => tracing::warn!("password hashing queue full: 503"),
            Self::Database(DbError::Unavailable(cause)) => {
                tracing::warn!(error = %cause, "database unavailable");
            }
            Self::Database(_) | Self::Hash(_) => {
                tracing::error!(error = &self as &dyn std::error::Error, "request failed");
            }
            _ => {}
        }
        self.into_problem().write(req, depot, res).await;
    }
}

impl EndpointOutRegister for UserError {
    fn register(components: &mut Components, operation: &mut Operation) {
        register_problem_responses(
            components,
            operation,
            // Every status this type maps to; each endpoint's `status_codes` keeps its own.
            &[
                StatusCode::BAD_REQUEST,
                StatusCode::UNAUTHORIZED,
                StatusCode::CONFLICT,
                StatusCode::TOO_MANY_REQUESTS,
                StatusCode::PAYLOAD_TOO_LARGE,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                StatusCode::UNPROCESSABLE_ENTITY,
                StatusCode::INTERNAL_SERVER_ERROR,
                StatusCode::SERVICE_UNAVAILABLE,
            ],
        );
    }
}
