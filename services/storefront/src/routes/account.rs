//! Registering, logging in and out. The token the User Service issues goes into the session
//! store; the browser gets only the new session's id.

use std::time::{Duration, Instant};

use salvo::prelude::*;
use shop_http::client_addr::request_client_ip;

use crate::api::{ApiError, IssuedToken};
use crate::routes::{Shop, account_unavailable, field, page, shop};
use crate::session::visitor;
use crate::views::account::{login as login_view, register as register_view};
use crate::views::errors::{ErrorPage, safe_return_path};
use crate::views::{Notice, explain};

#[handler]
pub async fn login_form(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let next = safe_return_path(req.query::<String>("next").as_deref());
    let notice = match (
        req.query::<String>("expired"),
        req.query::<String>("registered"),
    ) {
        (Some(_), _) => Some(Notice::Error(
            "Please log in (again) to continue.".to_owned(),
        )),
        (_, Some(_)) => Some(Notice::Info(
            "Your account is ready. Log in to start shopping.".to_owned(),
        )),
        _ => None,
    };
    let body = login_view(visitor(depot), "", &next);
    page(res, visitor(depot), "Log in", notice.as_ref(), None, &body);
}

#[handler]
pub async fn login(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ErrorPage> {
    let username = field(req, "username").await;
    let password = req.form::<String>("password").await.unwrap_or_default();
    let next = safe_return_path(Some(&field(req, "next").await));
    let shop = shop(depot);
    let started = Instant::now();
    let shopper = request_client_ip(req, &shop.trusted_proxies);
    match shop.api.login(&username, &password, shopper).await {
        Ok(issued) => {
            start_session(&shop, req, res, issued, started).await?;
            res.render(Redirect::other(next));
            Ok(())
        }
        Err(error @ ApiError::Refused { .. }) => {
            let message = if error.status() == Some(401) || error.status() == Some(422) {
                "That username and password do not match an account.".to_owned()
            } else {
                explain(&error)
            };
            res.status_code(if error.status() == Some(429) {
                StatusCode::TOO_MANY_REQUESTS
            } else {
                StatusCode::UNAUTHORIZED
            });
            let body = login_view(visitor(depot), &username, &next);
            page(
                res,
                visitor(depot),
                "Log in",
                Some(&Notice::Error(message)),
                None,
                &body,
            );
            Ok(())
        }
        Err(error) => Err(ErrorPage::from_api(&error, "/login")),
    }
}

#[handler]
pub async fn register_form(depot: &mut Depot, res: &mut Response) {
    let body = register_view(visitor(depot), "");
    page(res, visitor(depot), "Create an account", None, None, &body);
}

#[handler]
pub async fn register(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ErrorPage> {
    let username = field(req, "username").await;
    let password = req.form::<String>("password").await.unwrap_or_default();
    let shop = shop(depot);
    let shopper = request_client_ip(req, &shop.trusted_proxies);
    match shop.api.register(&username, &password, shopper).await {
        Ok(()) => {
            // Logging in straight away saves typing the password twice.
            let started = Instant::now();
            let session = match shop.api.login(&username, &password, shopper).await {
                Ok(issued) => start_session(&shop, req, res, issued, started).await,
                Err(error) => Err(ErrorPage::from_api(&error, "/")),
            };
            match session {
                Ok(()) => res.render(Redirect::other("/")),
                Err(_) => res.render(Redirect::other("/login?registered=1")),
            }
            Ok(())
        }
        Err(error @ ApiError::Refused { .. }) => {
            let message = if error.status() == Some(409) {
                "That username is taken. Please choose another.".to_owned()
            } else {
                explain(&error)
            };
            res.status_code(StatusCode::UNPROCESSABLE_ENTITY);
            let body = register_view(visitor(depot), &username);
            page(
                res,
                visitor(depot),
                "Create an account",
                Some(&Notice::Error(message)),
                None,
                &body,
            );
            Ok(())
        }
        Err(error) => Err(ErrorPage::from_api(&error, "/register")),
    }
}

/// Ends the session the cookie names even when it could not be checked: logging out must
/// not wait for the User Service.
#[handler]
pub async fn logout(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ErrorPage> {
    let shop = shop(depot);
    if let Err(error) = shop.sessions.log_out(req, res).await {
        tracing::warn!(error = %error, "logout failed");
        return Err(account_unavailable());
    }
    res.render(Redirect::other("/"));
    Ok(())
}

/// Keeps `issued` in a new session, for no longer than the token lives counted from before
/// it was asked for.
async fn start_session(
    shop: &Shop,
    req: &Request,
    res: &mut Response,
    issued: IssuedToken,
    started: Instant,
) -> Result<(), ErrorPage> {
    let ttl = Duration::from_secs(u64::try_from(issued.expires_in).unwrap_or(0))
        .saturating_sub(started.elapsed());
    shop.sessions
        .log_in(req, res, issued.access_token, ttl)
        .await
        .map_err(|error| {
            tracing::warn!(error = %error, "no session started");
            account_unavailable()
        })
}
