//! The service's one error type and its single mapping to problem+json.

use std::time::Duration;

use shop_http::problem::{FieldError, Problem};
use shop_postgres::DbError;

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

shop_http::api_error! {
    impl ApiError for UserError {
        fn problem(&self) -> Problem {
            match self {
                Self::Request(problem) => edge problem.clone(),
                Self::Validation(errors) => Problem::validation(errors.clone()),
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
                .retry_after(whole_seconds(*retry_after)),
                Self::TooManyRegistrations { retry_after } => Problem::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too-many-registrations",
                    "Too many registrations from this client",
                )
                .detail("Wait before registering another account.")
                .retry_after(whole_seconds(*retry_after)),
                Self::Hash(HashError::Busy) => Problem::unavailable("Password checking"),
                Self::Database(DbError::Unavailable(_)) => {
                    Problem::unavailable("The user database")
                }
                Self::Database(DbError::UniqueViolation { .. }) => Self::UsernameTaken.problem(),
                Self::Database(_) | Self::Hash(_) => Problem::internal(),
            }
        }
    }
}
