//! Errors declared once. A service's error enum implements [`ApiError`] (its one mapping to a
//! [`Problem`] and the statuses that mapping can give) and invokes [`api_error!`]; the response
//! body, the server-side log line and the OpenAPI responses of every endpoint returning it all
//! follow from that, so no service writes salvo's `Writer` or `EndpointOutRegister` itself and
//! no endpoint lists its status codes.
//!
//! The document builder ([`crate::openapi`]) then adds the 401/403 of the authentication
//! hoops to the operations they guard and drops 413/415 from operations that read no body.

use salvo::http::StatusCode;
use salvo::oapi::{Components, Operation};
use salvo::prelude::*;

use crate::problem::{Problem, register_problem_responses};

/// A service's error type: one problem per variant, and the statuses they can carry.
pub trait ApiError: std::error::Error + Send + 'static {
    /// Every status [`ApiError::problem`] can give, including those of the edge problems a
    /// `Request(Problem)`-style variant carries (bad body 400, oversized 413, media type 415,
    /// invalid fields 422).
    const STATUSES: &'static [StatusCode];

    /// The problem document a client gets. Server errors say nothing about their cause: the
    /// cause is logged by [`write`].
    fn problem(&self) -> Problem;
}

/// Writes `error` as problem+json. A 503 is logged as a warning (a dependency is down, the
/// service is fine), any other 5xx as an error with its whole cause chain.
pub fn write<E: ApiError>(error: &E, req: &Request, res: &mut Response) {
    let problem = error.problem();
    let status = problem.status_code();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        tracing::warn!(
            error = error as &dyn std::error::Error,
            "dependency unavailable"
        );
    } else if status.is_server_error() {
        tracing::error!(error = error as &dyn std::error::Error, "request failed");
    }
    problem.write_to(req, res);
}

/// Documents `E`'s statuses as problem+json responses of `operation`.
pub fn document<E: ApiError>(components: &mut Components, operation: &mut Operation) {
    register_problem_responses(components, operation, E::STATUSES);
}

/// Makes an [`ApiError`] a salvo response and an OpenAPI response set, so handlers can return
/// `Result<_, ThatError>`. (A blanket impl is not possible: both traits belong to salvo.)
#[macro_export]
macro_rules! api_error {
    ($error:ty) => {
        #[::salvo::async_trait]
        impl ::salvo::Writer for $error {
            async fn write(
                self,
                req: &mut ::salvo::Request,
                _depot: &mut ::salvo::Depot,
                res: &mut ::salvo::Response,
            ) {
                $crate::api_error::write(&self, req, res);
            }
        }

        impl ::salvo::oapi::EndpointOutRegister for $error {
            fn register(
                components: &mut ::salvo::oapi::Components,
                operation: &mut ::salvo::oapi::Operation,
            ) {
                $crate::api_error::document::<$error>(components, operation);
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use salvo::http::ResBody;

    use super::*;

    #[derive(Debug, thiserror::Error)]
    enum Sample {
        #[error("gone")]
        Gone,
        #[error("database down: 10.0.0.5 refused")]
        Down,
    }

    impl ApiError for Sample {
        const STATUSES: &'static [StatusCode] =
            &[StatusCode::GONE, StatusCode::SERVICE_UNAVAILABLE];

        fn problem(&self) -> Problem {
            match self {
                Self::Gone => Problem::new(StatusCode::GONE, "gone", "Gone"),
                Self::Down => Problem::unavailable("The database"),
            }
        }
    }

    crate::api_error!(Sample);

    #[test]
    fn documents_exactly_the_declared_statuses() {
        let mut components = Components::new();
        let mut operation = Operation::new();
        <Sample as salvo::oapi::EndpointOutRegister>::register(&mut components, &mut operation);
        let mut documented: Vec<&str> = operation.responses.keys().map(String::as_str).collect();
        documented.sort_unstable();
        assert_eq!(documented, ["410", "503"]);
        assert_eq!(Sample::Gone.problem().status, 410);
    }

    #[test]
    fn writes_the_problem_without_the_cause() {
        let req = Request::new();
        let mut res = Response::new();
        write(&Sample::Down, &req, &mut res);
        assert_eq!(res.status_code, Some(StatusCode::SERVICE_UNAVAILABLE));
        let ResBody::Once(body) = &res.body else {
            panic!("expected a body, got {:?}", res.body);
        };
        let text = String::from_utf8_lossy(body);
        assert!(text.contains("urn:problem:unavailable"), "{text}");
        assert!(!text.contains("10.0.0.5"), "{text}");
    }
}
