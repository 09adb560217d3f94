//! Errors declared once. A service's error enum implements [`ApiError`] through
//! [`api_error!`](crate::api_error): its one mapping to a [`Problem`], from whose arms the
//! statuses it can give are read. The response body, the server-side log line and the OpenAPI
//! responses of every endpoint returning it all follow from that mapping, so no service writes
//! salvo's `Writer` or `EndpointOutRegister` itself, lists its statuses, or has an endpoint list
//! its status codes.
//!
//! The document builder ([`crate::openapi`]) then adds the 401/403 of the authentication
//! hoops to the operations they guard and drops 413/415 from operations that read no body.

use salvo::http::StatusCode;
use salvo::oapi::{Components, Operation};
use salvo::prelude::*;

use crate::problem::{Problem, register_problem_responses};

/// A service's error type: one problem per variant, and the statuses they can carry. Implemented
/// by [`api_error!`](crate::api_error), which reads the statuses from the mapping.
pub trait ApiError: std::error::Error + Send + 'static {
    /// Every status [`ApiError::problem`] can give, each once, in ascending order, including
    /// those of the edge problems a `Request(Problem)`-style variant carries
    /// ([`EDGE_STATUSES`](crate::body::EDGE_STATUSES)).
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

/// Implements [`ApiError`] from a mapping written once, and makes the type a salvo response and
/// an OpenAPI response set, so handlers can return `Result<_, ThatError>`. (A blanket impl is not
/// possible: both traits belong to salvo.)
///
/// The mapping is `fn problem(&self) -> Problem`, optionally some `let` bindings, then one
/// `match self`. Every arm gives its problem in one of these forms, so that its status can be
/// read from it; any other form does not compile:
///
/// - `Problem::new(StatusCode::NAME, slug, title)`: that status;
/// - `Problem::validation(..)` (422), `Problem::unavailable(..)` (503), `Problem::internal()`
///   (500);
/// - `edge problem.clone()`: a problem decided at the edge, carried by a `Request(Problem)`-style
///   variant: the [`EDGE_STATUSES`](crate::body::EDGE_STATUSES);
/// - `Self::Variant.problem()`: another variant's problem, whose arm states its status.
///
/// The first four may be followed by method calls (`.detail(..)`, `.retry_after(..)`), and any
/// form may sit alone in a block. For example (not run here: the tests below and every service's
/// `error.rs` compile such mappings):
///
/// ```ignore
/// shop_http::api_error! {
///     impl ApiError for ExampleError {
///         fn problem(&self) -> Problem {
///             match self {
///                 Self::Request(problem) => edge problem.clone(),
///                 Self::Gone => Problem::new(StatusCode::GONE, "gone", "Gone").detail("Sold."),
///                 Self::Database(_) => Problem::internal(),
///             }
///         }
///     }
/// }
/// ```
#[macro_export]
macro_rules! api_error {
    (
        impl ApiError for $error:ty {
            fn problem(&$this:ident) -> Problem {
                $( let $name:ident = $value:expr; )*
                match $scrutinee:ident {
                    $($arms:tt)*
                }
            }
        }
    ) => {
        // The trailing comma lets every arm, the last included, end in one.
        $crate::api_error!(
            @arms [$error] [$this] [$( let $name = $value; )*] [$scrutinee] [] []
            $($arms)* ,
        );
    };

    // Every arm read: the impls, with the statuses the arms gave.
    (
        @arms [$error:ty] [$this:ident] [$($prelude:tt)*] [$scrutinee:ident]
        [$($done:tt)*] [$($statuses:tt)*] $(,)?
    ) => {
        impl $crate::api_error::ApiError for $error {
            const STATUSES: &'static [::salvo::http::StatusCode] = {
                const PARTS: &[&[::salvo::http::StatusCode]] = &[$($statuses),*];
                const SET: [::salvo::http::StatusCode; $crate::api_error::distinct_count(PARTS)] =
                    $crate::api_error::distinct_sorted(PARTS);
                &SET
            };

            fn problem(&$this) -> $crate::problem::Problem {
                $($prelude)*
                match $scrutinee {
                    $($done)*
                }
            }
        }

        $crate::api_error!(@responses $error);
    };

    // The salvo response and OpenAPI response set of an `ApiError`.
    (@responses $error:ty) => {
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

    // An arm in a block: read as the arm without it.
    (
        @arms $error:tt $this:tt $prelude:tt $scrutinee:tt $done:tt $statuses:tt
        $pattern:pat => { $($body:tt)* } , $($rest:tt)*
    ) => {
        $crate::api_error!(
            @arms $error $this $prelude $scrutinee $done $statuses
            $pattern => $($body)* , $($rest)*
        );
    };
    (
        @arms $error:tt $this:tt $prelude:tt $scrutinee:tt $done:tt $statuses:tt
        $pattern:pat => { $($body:tt)* } $($rest:tt)*
    ) => {
        $crate::api_error!(
            @arms $error $this $prelude $scrutinee $done $statuses
            $pattern => $($body)* , $($rest)*
        );
    };

    (
        @arms $error:tt $this:tt $prelude:tt $scrutinee:tt [$($done:tt)*] [$($statuses:tt)*]
        $pattern:pat => Problem::new(StatusCode::$status:ident, $($args:tt)*)
            $(. $method:ident ($($method_args:tt)*))* , $($rest:tt)*
    ) => {
        $crate::api_error!(
            @arms $error $this $prelude $scrutinee
            [
                $($done)*
                $pattern => $crate::problem::Problem::new(
                    ::salvo::http::StatusCode::$status, $($args)*
                ) $(. $method($($method_args)*))*,
            ]
            [$($statuses)* (&[::salvo::http::StatusCode::$status])]
            $($rest)*
        );
    };
    (
        @arms $error:tt $this:tt $prelude:tt $scrutinee:tt [$($done:tt)*] [$($statuses:tt)*]
        $pattern:pat => Problem::validation($($args:tt)*)
            $(. $method:ident ($($method_args:tt)*))* , $($rest:tt)*
    ) => {
        $crate::api_error!(
            @arms $error $this $prelude $scrutinee
            [
                $($done)*
                $pattern => $crate::problem::Problem::validation($($args)*)
                    $(. $method($($method_args)*))*,
            ]
            [$($statuses)* (&[::salvo::http::StatusCode::UNPROCESSABLE_ENTITY])]
            $($rest)*
        );
    };
    (
        @arms $error:tt $this:tt $prelude:tt $scrutinee:tt [$($done:tt)*] [$($statuses:tt)*]
        $pattern:pat => Problem::unavailable($($args:tt)*)
            $(. $method:ident ($($method_args:tt)*))* , $($rest:tt)*
    ) => {
        $crate::api_error!(
            @arms $error $this $prelude $scrutinee
            [
                $($done)*
                $pattern => $crate::problem::Problem::unavailable($($args)*)
                    $(. $method($($method_args)*))*,
            ]
            [$($statuses)* (&[::salvo::http::StatusCode::SERVICE_UNAVAILABLE])]
            $($rest)*
        );
    };
    (
        @arms $error:tt $this:tt $prelude:tt $scrutinee:tt [$($done:tt)*] [$($statuses:tt)*]
        $pattern:pat => Problem::internal()
            $(. $method:ident ($($method_args:tt)*))* , $($rest:tt)*
    ) => {
        $crate::api_error!(
            @arms $error $this $prelude $scrutinee
            [
                $($done)*
                $pattern => $crate::problem::Problem::internal() $(. $method($($method_args)*))*,
            ]
            [$($statuses)* (&[::salvo::http::StatusCode::INTERNAL_SERVER_ERROR])]
            $($rest)*
        );
    };
    (
        @arms $error:tt $this:tt $prelude:tt $scrutinee:tt [$($done:tt)*] [$($statuses:tt)*]
        $pattern:pat => edge $problem:expr , $($rest:tt)*
    ) => {
        $crate::api_error!(
            @arms $error $this $prelude $scrutinee
            [$($done)* $pattern => $problem,]
            [$($statuses)* ($crate::body::EDGE_STATUSES)]
            $($rest)*
        );
    };
    // Its status is the other variant's, which its own arm gives.
    (
        @arms $error:tt $this:tt $prelude:tt $scrutinee:tt [$($done:tt)*] $statuses:tt
        $pattern:pat => Self::$variant:ident.problem() , $($rest:tt)*
    ) => {
        $crate::api_error!(
            @arms $error $this $prelude $scrutinee
            [$($done)* $pattern => Self::$variant.problem(),]
            $statuses
            $($rest)*
        );
    };
    (
        @arms $error:tt $this:tt $prelude:tt $scrutinee:tt $done:tt $statuses:tt
        $($rest:tt)*
    ) => {
        ::core::compile_error!(::core::concat!(
            "api_error!: an arm's problem must be `Problem::new(StatusCode::NAME, ..)`, ",
            "`Problem::validation(..)`, `Problem::unavailable(..)`, `Problem::internal()` ",
            "(each optionally followed by method calls), `edge <expression>` or ",
            "`Self::Variant.problem()`, so that its status can be read; here: ",
            ::core::stringify!($($rest)*)
        ));
    };
}

/// Used by [`api_error!`](crate::api_error): which status codes `parts` hold, by number.
const fn present(parts: &[&[StatusCode]]) -> [bool; 1000] {
    let mut present = [false; 1000];
    let mut part = 0;
    while part < parts.len() {
        let mut index = 0;
        while index < parts[part].len() {
            // A StatusCode is 100..=999.
            present[parts[part][index].as_u16() as usize] = true;
            index += 1;
        }
        part += 1;
    }
    present
}

/// Used by [`api_error!`](crate::api_error): how many distinct statuses `parts` hold.
#[doc(hidden)]
pub const fn distinct_count(parts: &[&[StatusCode]]) -> usize {
    let present = present(parts);
    let mut count = 0;
    let mut code = 0;
    while code < present.len() {
        if present[code] {
            count += 1;
        }
        code += 1;
    }
    count
}

/// Used by [`api_error!`](crate::api_error): the distinct statuses of `parts`, ascending; `N` is
/// their [`distinct_count`].
#[doc(hidden)]
pub const fn distinct_sorted<const N: usize>(parts: &[&[StatusCode]]) -> [StatusCode; N] {
    let present = present(parts);
    let mut set = [StatusCode::OK; N];
    let mut len = 0;
    let mut code = 0;
    while code < present.len() {
        if present[code] {
            set[len] = match StatusCode::from_u16(code as u16) {
                Ok(status) => status,
                Err(_) => panic!("only valid status codes are marked present"),
            };
            len += 1;
        }
        code += 1;
    }
    assert!(len == N, "N is the distinct count");
    set
}

#[cfg(test)]
mod tests {
    use salvo::http::ResBody;

    use super::*;
    use crate::problem::FieldError;

    #[derive(Debug, thiserror::Error)]
    enum Sample {
        #[error("{}", .0.title)]
        Request(Problem),
        #[error("invalid")]
        Invalid,
        #[error("gone")]
        Gone,
        #[error("gone twice")]
        GoneAgain,
        #[error("too many, retry in {0} s")]
        TooMany(u64),
        #[error("database down: 10.0.0.5 refused")]
        Down,
        #[error("bug")]
        Bug,
    }

    crate::api_error! {
        impl ApiError for Sample {
            fn problem(&self) -> Problem {
                let detail = self.to_string();
                match self {
                    Self::Request(problem) => edge problem.clone(),
                    Self::Invalid => Problem::validation(vec![FieldError::new("name", "empty")]),
                    Self::Gone => Problem::new(StatusCode::GONE, "gone", "Gone"),
                    Self::GoneAgain => Self::Gone.problem(),
                    Self::TooMany(secs) => {
                        Problem::new(StatusCode::TOO_MANY_REQUESTS, "too-many", "Too many")
                            .detail(detail)
                            .retry_after(*secs)
                    }
                    Self::Down => Problem::unavailable("The database"),
                    Self::Bug => Problem::internal()
                }
            }
        }
    }

    /// Written out here, to be compared with what the macro read from the arms above.
    const EXPECTED: [u16; 8] = [400, 410, 413, 415, 422, 429, 500, 503];

    #[test]
    fn the_statuses_are_read_from_every_arm_each_once_in_order() {
        let statuses: Vec<u16> = Sample::STATUSES.iter().map(StatusCode::as_u16).collect();
        assert_eq!(statuses, EXPECTED);
    }

    #[test]
    fn every_arm_gives_the_status_it_declares() {
        let samples = [
            Sample::Request(Problem::from_status(StatusCode::PAYLOAD_TOO_LARGE)),
            Sample::Invalid,
            Sample::Gone,
            Sample::GoneAgain,
            Sample::TooMany(7),
            Sample::Down,
            Sample::Bug,
        ];
        let given: Vec<u16> = samples.iter().map(|error| error.problem().status).collect();
        assert_eq!(given, [413, 422, 410, 410, 429, 503, 500]);
        for status in given {
            assert!(EXPECTED.contains(&status), "{status} is not documented");
        }
    }

    #[test]
    fn method_calls_and_bindings_reach_the_problem() {
        let problem = Sample::TooMany(7).problem();
        assert_eq!(problem.detail.as_deref(), Some("too many, retry in 7 s"));
        assert_eq!(problem.retry_after_secs, Some(7));
        assert_eq!(problem.kind, "urn:problem:too-many");
        assert_eq!(Sample::Invalid.problem().errors[0].field, "name");
    }

    #[test]
    fn documents_exactly_the_declared_statuses() {
        let mut components = Components::new();
        let mut operation = Operation::new();
        <Sample as salvo::oapi::EndpointOutRegister>::register(&mut components, &mut operation);
        let documented: Vec<&str> = operation.responses.keys().map(String::as_str).collect();
        let expected: Vec<String> = EXPECTED.iter().map(u16::to_string).collect();
        assert_eq!(documented, expected);
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
