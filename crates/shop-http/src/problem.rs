//! RFC 9457 problem details: the one error body every service sends.
//!
//! Services map their own error enums into [`Problem`]; the [`catcher`] turns the framework's
//! own errors (unknown route, wrong method, oversized body, a panic) into the same shape, so a
//! client never sees an HTML page or an empty 4xx/5xx.

use salvo::http::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use salvo::http::{ResBody, StatusCode, StatusError};
use salvo::oapi::{self, Components, EndpointOutRegister, Operation, ToSchema};
use salvo::prelude::*;
use serde::{Deserialize, Serialize};

pub const PROBLEM_JSON: &str = "application/problem+json";

/// One invalid field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FieldError {
    /// The field's name in the request body.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    /// A count such as a quantity: `raw` when it lies in `min..=max`, else the error naming
    /// `field`. Callers keep the bounds within `i32`, the column type that stores the count.
    pub fn count_in(field: &str, raw: i64, min: i64, max: i64) -> Result<i32, Self> {
        if !(min..=max).contains(&raw) {
            return Err(Self::new(field, format!("must be between {min} and {max}")));
        }
        Ok(i32::try_from(raw).expect("callers bound counts within i32"))
    }
}

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    /// A URI reference naming the kind of problem; `about:blank` when the status says it all.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the kind of problem; the same for every occurrence.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong in this occurrence, for a human.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The request path the problem occurred on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The trace this request belongs to, to quote when reporting the problem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// Field-level validation errors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Seconds after which a retry may succeed; sent as the `Retry-After` header.
    #[serde(skip)]
    pub retry_after_secs: Option<u64>,
}

impl Problem {
    /// A problem of a named kind (`slug` becomes `urn:problem:<slug>`).
    pub fn new(status: StatusCode, slug: &str, title: impl Into<String>) -> Self {
        Self {
            kind: format!("urn:problem:{slug}"),
            title: title.into(),
            status: status.as_u16(),
            detail: None,
            instance: None,
            trace_id: None,
            errors: Vec::new(),
            retry_after_secs: None,
        }
    }

    /// A problem the status code fully describes.
    pub fn from_status(status: StatusCode) -> Self {
        Self {
            kind: "about:blank".into(),
            title: status.canonical_reason().unwrap_or("Error").into(),
            ..Self::new(status, "", "")
        }
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }

    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after_secs = Some(secs);
        self
    }

    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// 500 with a body that says nothing about the cause; the cause is logged by the caller.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal server error",
        )
        .detail("The request could not be completed. Quote the trace id when reporting it.")
    }

    /// 503 for a dependency that is down or saturated.
    pub fn unavailable(what: &str) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Service temporarily unavailable",
        )
        .detail(format!("{what} is unavailable; retry shortly."))
        .retry_after(1)
    }

    /// 422 listing invalid fields.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            "The request is not valid",
        )
        .errors(errors)
    }

    /// Writes this problem onto a response, filling in the request path and trace id.
    pub fn write_to(mut self, req: &Request, res: &mut Response) {
        if self.instance.is_none() {
            self.instance = Some(req.uri().path().to_owned());
        }
        if self.trace_id.is_none() {
            self.trace_id = shop_telemetry::current_trace_id();
        }
        res.status_code(self.status_code());
        if let Some(secs) = self.retry_after_secs {
            res.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        match serde_json::to_vec(&self) {
            Ok(bytes) => {
                res.headers_mut()
                    .insert(CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
                res.body(bytes);
            }
            Err(_) => {
                res.status_code(StatusCode::INTERNAL_SERVER_ERROR);
            }
        }
    }
}

#[async_trait]
impl Writer for Problem {
    async fn write(self, req: &mut Request, _depot: &mut Depot, res: &mut Response) {
        self.write_to(req, res);
    }
}

impl EndpointOutRegister for Problem {
    fn register(components: &mut Components, operation: &mut Operation) {
        register_problem_responses(
            components,
            operation,
            &[StatusCode::BAD_REQUEST, StatusCode::INTERNAL_SERVER_ERROR],
        );
    }
}

/// Adds `application/problem+json` responses for `statuses` to an operation's documentation.
pub fn register_problem_responses(
    components: &mut Components,
    operation: &mut Operation,
    statuses: &[StatusCode],
) {
    let schema = Problem::to_schema(components);
    for status in statuses {
        let response = oapi::Response::new(status.canonical_reason().unwrap_or("Error"))
            .add_content(PROBLEM_JSON, oapi::Content::new(schema.clone()));
        operation
            .responses
            .insert(status.as_str().to_owned(), response);
    }
}

/// Converts a framework status error into a problem. 5xx details are never passed on: they
/// can carry internal messages.
pub fn from_status_error(error: &StatusError) -> Problem {
    let status = error.code;
    let mut problem = Problem::from_status(status);
    if status.is_client_error() {
        let detail = error.detail.as_deref().unwrap_or(&error.brief);
        if !detail.is_empty() {
            problem.detail = Some(detail.to_owned());
        }
    }
    problem
}

/// Catcher goal: any error response without a body of its own becomes a problem document.
#[handler]
pub async fn catcher(req: &mut Request, res: &mut Response, ctrl: &mut FlowCtrl) {
    let status = res.status_code.unwrap_or(StatusCode::NOT_FOUND);
    if !(status.is_client_error() || status.is_server_error()) {
        return;
    }
    let problem = match &res.body {
        ResBody::None => Problem::from_status(status),
        ResBody::Error(error) => from_status_error(error),
        _ => return,
    };
    if status.is_server_error() {
        tracing::error!(
            status = status.as_u16(),
            path = req.uri().path(),
            "request failed"
        );
    }
    problem.write_to(req, res);
    ctrl.skip_rest();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_type_member_and_skips_empty_fields() {
        let json = serde_json::to_value(Problem::from_status(StatusCode::NOT_FOUND)).unwrap();
        assert_eq!(json["type"], "about:blank");
        assert_eq!(json["title"], "Not Found");
        assert_eq!(json["status"], 404);
        assert!(json.get("errors").is_none());
        assert!(json.get("retry_after_secs").is_none());
    }

    #[test]
    fn server_error_detail_is_not_passed_on() {
        let error = StatusError::internal_server_error().brief("connection to 10.0.0.5 refused");
        let problem = from_status_error(&error);
        assert!(problem.detail.is_none());
    }
}
