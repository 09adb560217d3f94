//! The storefront's routes. Pages sit behind [`LoadSession`] (visitor, CSRF check of every
//! POST) and a hoop adding security headers; the stylesheet and script are served without
//! either. Handlers return `Result<(), ErrorPage>` so every failure is a page.

mod account;
mod admin;
mod assets;
mod events;
mod orders;
mod shop;

use std::sync::Arc;

use maud::Markup;
use order_status_feed::{Hub, Streams};
use salvo::catch_panic::CatchPanic;
use salvo::prelude::*;
use shop_auth_client::Caller;
use shop_config::TrustedProxies;
use shop_http::route::{Provide, route, route_template, state};
use shop_sessions::{Sessions, Visitor};

use crate::api::{Api, ApiError};
use crate::session::LoadSession;
use crate::views::errors::{ErrorPage, HtmlErrors, not_found};
use crate::views::{Live, Notice, explain, layout};

/// What the handlers share.
#[derive(Debug)]
pub struct Shop {
    pub api: Api,
    pub sessions: Arc<Sessions>,
    pub hub: Arc<Hub>,
    /// The open live streams: their caps, and closing them at logout.
    pub streams: Arc<Streams>,
    /// How often an open live stream checks that its session still exists.
    pub live_recheck: std::time::Duration,
    pub page_size: u8,
    /// Ends the open live streams at shutdown, so draining does not wait for them.
    pub shutdown: tokio_util::sync::CancellationToken,
    /// Whose `X-Forwarded-For` names the shopper (the gateway).
    pub trusted_proxies: TrustedProxies,
}

pub fn router(shop: Arc<Shop>) -> Router {
    let pages = Router::new()
        .hoop(HtmlErrors)
        .hoop(CatchPanic::new())
        .hoop(SecurityHeaders)
        .hoop(Provide(shop.clone()))
        .hoop(LoadSession(shop.sessions.clone()))
        .push(route("/").get(shop::catalogue))
        .push(route("/products/{id}").get(shop::product_page))
        .push(route("/checkout").post(shop::checkout))
        .push(
            route("/login")
                .get(account::login_form)
                .post(account::login),
        )
        .push(
            route("/register")
                .get(account::register_form)
                .post(account::register),
        )
        .push(route("/logout").post(account::logout))
        .push(route("/orders").get(orders::list))
        .push(route("/orders/{id}").get(orders::detail))
        .push(route("/orders/{id}/cancel").post(orders::cancel))
        .push(route("/live/orders").get(events::order_events))
        .push(
            route("/admin/products")
                .get(admin::products)
                .post(admin::create_product),
        )
        .push(
            route("/admin/products/{id}")
                .get(admin::product_form_page)
                .post(admin::update_product),
        )
        .push(route("/admin/products/{id}/restock").post(admin::restock))
        .push(route("/admin/orders").get(admin::orders))
        .push(route("/admin/orders/{id}/advance").post(admin::advance))
        .push(fallback());
    Router::new().push(assets::router()).push(pages)
}

/// Every other path, in any method, gets the 404 page, except those the runtime serves next
/// to the pages (health, metrics, API docs).
fn fallback() -> Router {
    Router::with_filter_fn(|req, _| {
        let path = req.uri().path();
        !(path.starts_with("/health")
            || path == "/metrics"
            || path == "/openapi.json"
            || path.starts_with("/docs"))
    })
    .path("{**rest}")
    .hoop(route_template("unmatched"))
    .goal(not_found)
}

/// Headers that make injected content and framing harmless: scripts, styles and form targets
/// only from this origin, no framing, no sniffing, no referrer to other sites.
struct SecurityHeaders;

#[async_trait]
impl Handler for SecurityHeaders {
    async fn handle(&self, _: &mut Request, _: &mut Depot, res: &mut Response, _: &mut FlowCtrl) {
        let headers = [
            (
                "content-security-policy",
                "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                 form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            ),
            ("x-content-type-options", "nosniff"),
            ("referrer-policy", "same-origin"),
            ("cache-control", "no-store"),
        ];
        for (name, value) in headers {
            let _ = res.add_header(name, value, true);
        }
    }
}

fn shop(depot: &Depot) -> Arc<Shop> {
    state::<Arc<Shop>>(depot).clone()
}

/// Writes a whole page.
fn page(
    res: &mut Response,
    visitor: &Visitor,
    title: &str,
    notice: Option<&Notice>,
    live: Option<Live>,
    body: &Markup,
) {
    res.render(Text::Html(
        layout(title, visitor, notice, live, body).into_string(),
    ));
}

/// The live state a page renders with: whether updates run, and the stream position the page
/// has seen (everything up to it is in the data the page shows).
fn live(shop: &Shop) -> Live {
    Live {
        running: shop.hub.is_live(),
        since: shop.hub.last_seq(),
    }
}

/// The visitor's token and identity, or the log-in page that comes back here, or the 503 page
/// when their session could not be checked.
fn signed_in<'a>(visitor: &'a Visitor, req: &Request) -> Result<(&'a str, &'a Caller), ErrorPage> {
    match &visitor.user {
        Some((token, caller)) => Ok((token, caller)),
        None if visitor.account_unavailable => Err(account_unavailable()),
        None => Err(ErrorPage::LogIn {
            return_to: req.uri().path().to_owned(),
        }),
    }
}

/// The 503 page of anything that needs the session store or the User Service.
fn account_unavailable() -> ErrorPage {
    ErrorPage::Unavailable(explain(&ApiError::Unavailable("the account service")))
}

fn admin<'a>(visitor: &'a Visitor, req: &Request) -> Result<&'a str, ErrorPage> {
    let (token, caller) = signed_in(visitor, req)?;
    if caller.is_admin() {
        Ok(token)
    } else {
        Err(ErrorPage::Forbidden)
    }
}

fn id_param(req: &Request) -> Result<i64, ErrorPage> {
    req.param::<i64>("id")
        .filter(|id| *id > 0)
        .ok_or(ErrorPage::NotFound)
}

/// A form field, trimmed; empty when absent.
async fn field(req: &mut Request, name: &str) -> String {
    req.form::<String>(name)
        .await
        .unwrap_or_default()
        .trim()
        .to_owned()
}
