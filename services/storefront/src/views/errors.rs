//! Pages for what went wrong, in words: never a stack trace or a JSON document. The cause of a
//! 500 is logged by whoever raised it, with the trace id the page quotes.

use maud::html;
use salvo::http::ResBody;
use salvo::http::StatusCode;
use salvo::prelude::*;
use shop_sessions::Visitor;

use crate::api::ApiError;
use crate::views::{explain, layout};

/// An error page, or the redirect that stands for one.
#[derive(Debug)]
pub enum ErrorPage {
    NotFound,
    Forbidden,
    /// A request no page could make sense of (a hand-made URL, an oversized form).
    BadRequest(StatusCode),
    /// The person must log in (again) to see this; back to `return_to` afterwards.
    LogIn {
        return_to: String,
    },
    Unavailable(String),
    Internal,
}

impl ErrorPage {
    /// What a failed API call means for a page that cannot show anything without it.
    pub fn from_api(error: &ApiError, return_to: &str) -> Self {
        match error {
            ApiError::SessionExpired => Self::LogIn {
                return_to: return_to.to_owned(),
            },
            ApiError::Refused { problem, .. } if problem.status == 404 => Self::NotFound,
            ApiError::Refused { problem, .. } if problem.status == 403 => Self::Forbidden,
            ApiError::Unavailable(_) => Self::Unavailable(explain(error)),
            ApiError::Refused { .. } => {
                tracing::error!(error = %error, "unexpected refusal behind a page");
                Self::Internal
            }
        }
    }

    pub fn render(&self, res: &mut Response, visitor: &Visitor) {
        let (status, title, text) = match self {
            Self::NotFound => (
                StatusCode::NOT_FOUND,
                "Page not found",
                "We could not find that page. It may have been removed, or the address may be mistyped.".to_owned(),
            ),
            Self::Forbidden => (
                StatusCode::FORBIDDEN,
                "Not allowed",
                "You are not allowed to do that. If you were filling in a form, go back, reload the page and try again.".to_owned(),
            ),
            Self::BadRequest(status) => (
                *status,
                "Request not understood",
                "We could not make sense of that request. Go back and try again from the page.".to_owned(),
            ),
            Self::LogIn { return_to } => {
                let target = format!("/login?expired=1&next={}", encode(return_to));
                res.render(Redirect::other(target));
                return;
            }
            Self::Unavailable(text) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable",
                text.clone(),
            ),
            Self::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Something went wrong on our side. Please try again; if it keeps happening, tell us the time it happened.".to_owned(),
            ),
        };
        let body = html! {
            h1 { (title) }
            p { (text) }
            p { a href="/" { "Back to the catalogue" } }
        };
        res.status_code(status);
        res.render(Text::Html(
            layout(title, visitor, None, None, &body).into_string(),
        ));
    }
}

/// Handlers return `Result<(), ErrorPage>`: the error renders as a page for the visitor.
#[async_trait]
impl Writer for ErrorPage {
    async fn write(self, _: &mut Request, depot: &mut Depot, res: &mut Response) {
        let visitor = depot.get_typed::<Visitor>().cloned().unwrap_or_default();
        self.render(res, &visitor);
    }
}

/// Percent-encodes a path for a query value.
pub fn encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'/' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

/// Only a local path may be a redirect target after logging in: never another site.
pub fn safe_return_path(next: Option<&str>) -> String {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
}

/// Turns what no handler rendered itself into a page: an error status without a body (a
/// wrong method, an oversized form) or a panic, caught here so the page can be HTML. Health,
/// metrics and API docs are outside the pages' router and keep their problem+json.
#[derive(Debug)]
pub struct HtmlErrors;

#[async_trait]
impl Handler for HtmlErrors {
    async fn handle(
        &self,
        req: &mut Request,
        depot: &mut Depot,
        res: &mut Response,
        ctrl: &mut FlowCtrl,
    ) {
        ctrl.call_next(req, depot, res).await;
        let status = res.status_code.unwrap_or(StatusCode::OK);
        if !(status.is_client_error() || status.is_server_error())
            || !matches!(res.body, ResBody::None | ResBody::Error(_))
        {
            return;
        }
        if status.is_server_error() {
            tracing::error!(
                status = status.as_u16(),
                path = req.uri().path(),
                "request failed"
            );
        }
        let page = match status {
            StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED => ErrorPage::NotFound,
            StatusCode::FORBIDDEN => ErrorPage::Forbidden,
            status if status.is_server_error() => ErrorPage::Internal,
            status => ErrorPage::BadRequest(status),
        };
        let visitor = depot.get_typed::<Visitor>().cloned().unwrap_or_default();
        page.render(res, &visitor);
    }
}

/// The goal of every path no page has: the 404 page.
#[handler]
pub async fn not_found(depot: &mut Depot, res: &mut Response) {
    let visitor = depot.get_typed::<Visitor>().cloned().unwrap_or_default();
    ErrorPage::NotFound.render(res, &visitor);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_login() {
        assert_eq!(safe_return_path(Some("/orders/3")), "/orders/3");
        assert_eq!(safe_return_path(Some("//evil.example")), "/");
        assert_eq!(safe_return_path(Some("https://evil.example")), "/");
        assert_eq!(safe_return_path(Some("/\\evil")), "/");
        assert_eq!(safe_return_path(None), "/");
    }

    #[test]
    fn return_paths_are_encoded() {
        assert_eq!(encode("/orders?x=1&y"), "/orders%3Fx%3D1%26y");
    }
}
