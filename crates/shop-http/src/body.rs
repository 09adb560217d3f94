//! Request body parsing with the split clients can act on: a body that is not JSON at all is a
//! 400, a well-formed body with wrong or missing fields is a 422 naming the field, a body of the
//! wrong media type is a 415, and one over the size limit is a 413.

use salvo::http::ParseError;
use salvo::http::StatusCode;
use salvo::prelude::*;
use serde::de::DeserializeOwned;

use crate::problem::{FieldError, Problem};

/// Every status of the problems decided at the edge, before a service's own logic: a body that
/// cannot be read or is not JSON (400), one over the size limit (413), of the wrong media type
/// (415), or with invalid fields or query parameters (422). A service's `Request(Problem)`-style
/// variant carries these, and [`api_error!`](crate::api_error) documents them for its `edge` arm.
pub const EDGE_STATUSES: &[StatusCode] = &[
    StatusCode::BAD_REQUEST,
    StatusCode::PAYLOAD_TOO_LARGE,
    StatusCode::UNSUPPORTED_MEDIA_TYPE,
    StatusCode::UNPROCESSABLE_ENTITY,
];

/// The media types a body may be parsed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    Json,
    Form,
}

/// Which supported media type the request declares, if any.
pub fn body_kind(req: &Request) -> Option<BodyKind> {
    let mime = req.content_type()?;
    match (mime.type_().as_str(), mime.subtype().as_str()) {
        ("application", "json") => Some(BodyKind::Json),
        ("application", subtype) if subtype.ends_with("+json") => Some(BodyKind::Json),
        ("application", "x-www-form-urlencoded") => Some(BodyKind::Form),
        _ => None,
    }
}

/// Parses a JSON body into `T`.
pub async fn json<T: DeserializeOwned>(req: &mut Request) -> Result<T, Problem> {
    match body_kind(req) {
        Some(BodyKind::Json) => {}
        _ => return Err(unsupported_media_type("application/json")),
    }
    let bytes = read(req).await?;
    decode_json(&bytes)
}

/// Parses a JSON or an `application/x-www-form-urlencoded` body into `T`.
pub async fn json_or_form<T: DeserializeOwned>(req: &mut Request) -> Result<T, Problem> {
    let kind = body_kind(req).ok_or_else(|| {
        unsupported_media_type("application/json or application/x-www-form-urlencoded")
    })?;
    let bytes = read(req).await?;
    match kind {
        BodyKind::Json => decode_json(&bytes),
        BodyKind::Form => {
            let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded::parse(&bytes));
            serde_path_to_error::deserialize(deserializer).map_err(|error| {
                let field = error.path().to_string();
                Problem::validation(vec![FieldError::new(field, error.inner().to_string())])
            })
        }
    }
}

/// Parses the query string into `T`; a value of the wrong type or an unknown parameter (with
/// `deny_unknown_fields`) is a 422 naming the parameter.
pub fn query<T: DeserializeOwned>(req: &Request) -> Result<T, Problem> {
    let raw = req.uri().query().unwrap_or_default();
    let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded::parse(raw.as_bytes()));
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        Problem::validation(vec![FieldError::new(
            error.path().to_string(),
            error.inner().to_string(),
        )])
    })
}

async fn read(req: &mut Request) -> Result<bytes::Bytes, Problem> {
    match req.payload().await {
        Ok(bytes) => Ok(bytes.clone()),
        Err(ParseError::PayloadTooLarge) => Err(Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            "Request body too large",
        )
        .detail(format!(
            "The body may be at most {} bytes.",
            req.secure_max_size()
        ))),
        Err(_) => Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "unreadable-body",
            "Request body could not be read",
        )),
    }
}

/// Decodes JSON, classifying the failure as malformed (400) or invalid (422).
pub fn decode_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let inner = error.inner();
        if inner.is_data() {
            let field = error.path().to_string();
            let field = if field == "." { String::new() } else { field };
            Problem::validation(vec![FieldError::new(field, strip_position(inner))])
        } else {
            malformed(inner)
        }
    })?;
    deserializer.end().map_err(|error| malformed(&error))?;
    Ok(value)
}

fn malformed(error: &serde_json::Error) -> Problem {
    Problem::new(
        StatusCode::BAD_REQUEST,
        "malformed-json",
        "Malformed JSON body",
    )
    .detail(error.to_string())
}

/// serde_json appends "at line 1 column 17"; for a field error the field name says more.
fn strip_position(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(index) => text[..index].to_owned(),
        None => text,
    }
}

fn unsupported_media_type(expected: &str) -> Problem {
    Problem::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported-media-type",
        "Unsupported media type",
    )
    .detail(format!("Send the body as {expected}."))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Sample {
        name: String,
        count: u32,
    }

    #[test]
    fn syntax_error_is_400() {
        let problem = decode_json::<Sample>(b"{\"name\": ").unwrap_err();
        assert_eq!(problem.status, 400);
    }

    #[test]
    fn trailing_garbage_is_400() {
        let problem = decode_json::<Sample>(b"{\"name\":\"a\",\"count\":1} x").unwrap_err();
        assert_eq!(problem.status, 400);
    }

    #[test]
    fn wrong_type_is_422_naming_the_field() {
        let problem = decode_json::<Sample>(b"{\"name\":\"a\",\"count\":\"x\"}").unwrap_err();
        assert_eq!(problem.status, 422);
        assert_eq!(problem.errors[0].field, "count");
    }

    fn request(content_type: Option<&'static str>, body: &'static str, limit: usize) -> Request {
        let mut req = Request::new();
        if let Some(content_type) = content_type {
            req.headers_mut().insert(
                salvo::http::header::CONTENT_TYPE,
                salvo::http::HeaderValue::from_static(content_type),
            );
        }
        req.replace_body(salvo::http::ReqBody::Once(bytes::Bytes::from_static(
            body.as_bytes(),
        )));
        req.set_secure_max_size(limit);
        req
    }

    /// EDGE_STATUSES is what services document for these problems: it must hold every status
    /// the readers give, and nothing they do not.
    #[tokio::test]
    async fn the_edge_statuses_are_exactly_those_the_readers_give() {
        const JSON: Option<&str> = Some("application/json");
        let mut given = Vec::new();
        for (content_type, body, limit) in [
            (JSON, "{\"name\": ", 1024),
            (JSON, "{\"name\":\"a\",\"count\":\"x\"}", 1024),
            (Some("text/plain"), "{}", 1024),
            (JSON, "{\"name\":\"a\",\"count\":1}", 4),
        ] {
            let mut req = request(content_type, body, limit);
            let problem = json::<Sample>(&mut req).await.unwrap_err();
            given.push(problem.status_code());
        }
        let mut req = request(None, "", 1024);
        *req.uri_mut() = "/?count=x".parse().unwrap();
        given.push(query::<Sample>(&req).unwrap_err().status_code());

        for status in &given {
            assert!(
                EDGE_STATUSES.contains(status),
                "{status} is not an edge status"
            );
        }
        for status in EDGE_STATUSES {
            assert!(given.contains(status), "no reader gives {status}");
        }
    }

    #[test]
    fn missing_field_is_422() {
        let problem = decode_json::<Sample>(b"{\"name\":\"a\"}").unwrap_err();
        assert_eq!(problem.status, 422);
        assert!(problem.errors[0].message.contains("count"));
    }
}
