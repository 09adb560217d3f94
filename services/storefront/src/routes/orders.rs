//! A customer's orders: the list, one order, cancelling a pending one.

use salvo::prelude::*;

use crate::api::OrderStatus;
use crate::routes::{id_param, live, page, shop, signed_in};
use crate::session::visitor;
use crate::views::Notice;
use crate::views::errors::ErrorPage;
use crate::views::orders::{detail as detail_view, list as list_view};

#[handler]
pub async fn list(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ErrorPage> {
    let shop = shop(depot);
    let visitor = visitor(depot);
    let (token, _) = signed_in(visitor, req)?;
    // Taken before the orders are read: an event after this position may be newer than what
    // the page shows, never older, so replaying from it loses nothing.
    let live = live(&shop);
    let orders = shop
        .api
        .orders(token, None)
        .await
        .map_err(|error| ErrorPage::from_api(&error, "/orders"))?;
    // An admin's listing holds everyone's orders; "my orders" shows only the visitor's own.
    let mine: Vec<_> = orders
        .items
        .into_iter()
        .filter(|order| Some(order.user_id) == visitor.caller().map(|caller| caller.user_id))
        .collect();
    let notice = req.query::<i64>("cancelled").map(|id| {
        Notice::Info(format!(
            "Order #{id} is cancelled; its stock is back on sale."
        ))
    });
    let body = list_view(&mine, visitor);
    page(
        res,
        visitor,
        "My orders",
        notice.as_ref(),
        Some(live),
        &body,
    );
    Ok(())
}

#[handler]
pub async fn detail(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ErrorPage> {
    let id = id_param(req)?;
    let shop = shop(depot);
    let visitor = visitor(depot);
    let (token, caller) = signed_in(visitor, req)?;
    let live = live(&shop);
    let order = shop
        .api
        .order(token, id)
        .await
        .map_err(|error| ErrorPage::from_api(&error, req.uri().path()))?;
    if order.user_id != caller.user_id {
        // An admin may read any order through the API; the customer pages stay per person.
        return Err(ErrorPage::NotFound);
    }
    let notice = req
        .query::<String>("placed")
        .map(|_| Notice::Info("Thank you! Your order is placed.".to_owned()));
    let body = detail_view(&order, visitor);
    page(
        res,
        visitor,
        &format!("Order #{id}"),
        notice.as_ref(),
        Some(live),
        &body,
    );
    Ok(())
}

#[handler]
pub async fn cancel(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ErrorPage> {
    let id = id_param(req)?;
    let shop = shop(depot);
    let visitor = visitor(depot).clone();
    let (token, _) = signed_in(&visitor, req)?;
    match shop
        .api
        .set_order_status(token, id, OrderStatus::Cancelled)
        .await
    {
        Ok(_) => {
            res.render(Redirect::other(format!("/orders?cancelled={id}")));
            Ok(())
        }
        Err(error) if error.status() == Some(409) => {
            let order = shop
                .api
                .order(token, id)
                .await
                .map_err(|error| ErrorPage::from_api(&error, "/orders"))?;
            let message = format!(
                "Order #{id} can no longer be cancelled: it is {}.",
                crate::views::status_label(order.status).to_lowercase()
            );
            res.status_code(StatusCode::CONFLICT);
            let body = detail_view(&order, &visitor);
            page(
                res,
                &visitor,
                &format!("Order #{id}"),
                Some(&Notice::Error(message)),
                Some(live(&shop)),
                &body,
            );
            Ok(())
        }
        Err(error) => Err(ErrorPage::from_api(&error, &format!("/orders/{id}"))),
    }
}
