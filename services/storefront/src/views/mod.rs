//! The HTML, as maud templates checked at compile time. Every page goes through [`layout`]:
//! one stylesheet and one script from the binary, a skip link, the navigation, a message area
//! and, on pages that update live, a status line whose space is reserved so nothing moves.

pub mod account;
pub mod admin;
pub mod errors;
pub mod orders;
pub mod shop;

use maud::{DOCTYPE, Markup, html};
use rust_decimal::Decimal;
use shop_sessions::{CSRF_FIELD, Visitor};

use crate::api::{ApiError, OrderStatus};

/// A message at the top of a page.
#[derive(Debug, Clone)]
pub enum Notice {
    Info(String),
    Error(String),
}

/// Whether a page listens for live updates, and from where in the stream.
#[derive(Debug, Clone, Copy)]
pub struct Live {
    pub running: bool,
    pub since: u64,
}

pub fn layout(
    title: &str,
    visitor: &Visitor,
    notice: Option<&Notice>,
    live: Option<Live>,
    body: &Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Shop" }
                link rel="stylesheet" href="/static/app.css";
                script src="/static/app.js" defer {}
            }
            body data-live-since=[live.map(|live| live.since)] {
                a.skip href="#main" { "Skip to content" }
                (navigation(visitor))
                main #main tabindex="-1" {
                    @if let Some(live) = live {
                        p #live-status role="status" aria-live="polite"
                            data-state=(if live.running { "running" } else { "paused" }) {
                            @if live.running { "Order status updates live." }
                            @else { "Live updates are paused; reload the page to see the latest status." }
                        }
                    }
                    @if visitor.expired {
                        p.notice.error role="alert" { "Your session has expired. Please log in again." }
                    }
                    @match notice {
                        Some(Notice::Info(text)) => p.notice.info role="status" { (text) },
                        Some(Notice::Error(text)) => p.notice.error role="alert" { (text) },
                        None => {},
                    }
                    (body)
                }
            }
        }
    }
}

fn navigation(visitor: &Visitor) -> Markup {
    html! {
        header.top {
            nav aria-label="Main" {
                a.brand href="/" { "Shop" }
                a href="/" { "Catalogue" }
                @if let Some(caller) = visitor.caller() {
                    a href="/orders" { "My orders" }
                    @if caller.is_admin() {
                        a href="/admin/products" { "Products" }
                        a href="/admin/orders" { "Fulfilment" }
                    }
                    form.inline method="post" action="/logout" {
                        (csrf(visitor))
                        button.link type="submit" { "Log out " (caller.username) }
                    }
                } @else {
                    a href="/login" { "Log in" }
                    a href="/register" { "Register" }
                }
            }
        }
    }
}

/// The hidden CSRF field every form carries.
pub fn csrf(visitor: &Visitor) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(visitor.csrf_token); }
}

pub fn money(amount: Decimal) -> String {
    format!("${:.2}", amount)
}

/// A status as people read it.
pub fn status_label(status: OrderStatus) -> &'static str {
    match status {
        OrderStatus::Pending => "Pending",
        OrderStatus::Confirmed => "Confirmed",
        OrderStatus::Shipped => "Shipped",
        OrderStatus::Completed => "Delivered",
        OrderStatus::Cancelled => "Cancelled",
    }
}

/// An API refusal as a sentence for the person who caused it; never the raw document.
pub fn explain(error: &ApiError) -> String {
    match error {
        ApiError::SessionExpired => "Your session has expired. Please log in again.".into(),
        ApiError::Unavailable(what) => {
            format!("Sorry, {what} is not answering right now. Please try again in a moment.")
        }
        ApiError::Refused { problem, .. } => match error.kind().unwrap_or_default() {
            "insufficient-stock" => {
                "Sorry, there is not enough stock for that quantity. Try a smaller one.".into()
            }
            "product-not-found" => "Sorry, that product is no longer available.".into(),
            "forbidden" => "You are not allowed to do that.".into(),
            _ if problem.status == 429 => {
                "Too many attempts. Please wait a minute and try again.".into()
            }
            _ if !problem.errors.is_empty() => {
                let fields: Vec<String> = problem
                    .errors
                    .iter()
                    .map(|field| format!("{} {}", field.field.replace('_', " "), field.message))
                    .collect();
                format!("Please check: {}.", fields.join("; "))
            }
            _ => problem
                .detail
                .clone()
                .unwrap_or_else(|| problem.title.clone()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shop_http::problem::{FieldError, Problem};

    fn refused(problem: Problem) -> ApiError {
        ApiError::Refused {
            service: "the catalogue",
            problem,
        }
    }

    #[test]
    fn problems_become_sentences() {
        let stock = Problem::new(
            salvo::http::StatusCode::CONFLICT,
            "insufficient-stock",
            "Insufficient stock",
        );
        assert!(explain(&refused(stock)).contains("not enough stock"));
        let invalid = Problem::validation(vec![FieldError::new("quantity", "must be positive")]);
        assert_eq!(
            explain(&refused(invalid)),
            "Please check: quantity must be positive."
        );
        assert!(explain(&ApiError::SessionExpired).contains("log in again"));
    }

    #[test]
    fn money_has_two_places() {
        assert_eq!(money(Decimal::new(1999, 2)), "$19.99");
        assert_eq!(money(Decimal::new(5, 0)), "$5.00");
    }
}
