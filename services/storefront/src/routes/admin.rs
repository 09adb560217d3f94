//! The admin's routes: products (create, edit, restock) and fulfilment. The APIs check the
//! role again; the check here only spares a customer a page full of refusals.

use salvo::prelude::*;

use crate::api::{
    ApiError, CreateProductRequest, OrderStatus, ProductQuery, UpdateProductRequest, price_text,
};
use crate::routes::{admin as admin_token, field, id_param, page, shop};
use crate::session::visitor;
use crate::views::admin::{
    FulfilmentRow, ProductForm, edit_product as edit_view, orders as orders_view,
    products as products_view,
};
use crate::views::errors::ErrorPage;
use crate::views::{Notice, explain};

async fn product_form(req: &mut Request) -> ProductForm {
    ProductForm {
        name: field(req, "name").await,
        description: field(req, "description").await,
        price: field(req, "price").await,
        quantity: field(req, "quantity").await,
    }
}

/// The form as the API wants it; a stock figure that is no number is refused here.
fn changes(form: &ProductForm) -> Result<CreateProductRequest, String> {
    let quantity = form
        .quantity
        .parse::<i64>()
        .map_err(|_| "Please check: stock must be a whole number.".to_owned())?;
    Ok(CreateProductRequest {
        name: form.name.clone(),
        description: form.description.clone(),
        price: price_text(form.price.trim_start_matches('$')),
        quantity,
    })
}

async fn show_products(
    req: &Request,
    depot: &Depot,
    res: &mut Response,
    notice: Option<Notice>,
    form: &ProductForm,
) -> Result<(), ErrorPage> {
    let shop = shop(depot);
    let listing = shop
        .api
        .products(&ProductQuery {
            limit: 100,
            ..ProductQuery::default()
        })
        .await
        .map_err(|error| ErrorPage::from_api(&error, req.uri().path()))?;
    let body = products_view(&listing.items, visitor(depot), form);
    page(
        res,
        visitor(depot),
        "Products",
        notice.as_ref(),
        None,
        &body,
    );
    Ok(())
}

#[handler]
pub async fn products(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ErrorPage> {
    admin_token(visitor(depot), req)?;
    let notice = req
        .query::<i64>("saved")
        .map(|id| Notice::Info(format!("Saved product #{id}.")));
    show_products(req, depot, res, notice, &ProductForm::default()).await
}

#[handler]
pub async fn create_product(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ErrorPage> {
    let token = admin_token(visitor(depot), req)?.to_owned();
    let form = product_form(req).await;
    let outcome = match changes(&form) {
        Ok(changes) => shop(depot)
            .api
            .create_product(&token, &changes)
            .await
            .map_err(Err),
        Err(message) => Err(Ok(message)),
    };
    match outcome {
        Ok(product) => {
            res.render(Redirect::other(format!(
                "/admin/products?saved={}",
                product.id
            )));
            Ok(())
        }
        Err(Ok(message)) => refused(req, depot, res, message, &form, None).await,
        Err(Err(error @ ApiError::Refused { .. })) => {
            refused(req, depot, res, explain(&error), &form, None).await
        }
        Err(Err(error)) => Err(ErrorPage::from_api(&error, "/admin/products")),
    }
}

/// Shows the form again with what was typed and why it was refused.
async fn refused(
    req: &Request,
    depot: &Depot,
    res: &mut Response,
    message: String,
    form: &ProductForm,
    id: Option<i64>,
) -> Result<(), ErrorPage> {
    res.status_code(StatusCode::UNPROCESSABLE_ENTITY);
    let notice = Some(Notice::Error(message));
    match id {
        None => show_products(req, depot, res, notice, form).await,
        Some(id) => {
            let body = edit_view(id, visitor(depot), form);
            page(
                res,
                visitor(depot),
                "Edit product",
                notice.as_ref(),
                None,
                &body,
            );
            Ok(())
        }
    }
}

#[handler]
pub async fn product_form_page(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ErrorPage> {
    admin_token(visitor(depot), req)?;
    let id = id_param(req)?;
    let product = shop(depot)
        .api
        .product(id)
        .await
        .map_err(|error| ErrorPage::from_api(&error, req.uri().path()))?;
    let notice = req
        .query::<String>("saved")
        .map(|_| Notice::Info("Saved.".to_owned()));
    let body = edit_view(id, visitor(depot), &ProductForm::from(&product));
    page(
        res,
        visitor(depot),
        "Edit product",
        notice.as_ref(),
        None,
        &body,
    );
    Ok(())
}

#[handler]
pub async fn update_product(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ErrorPage> {
    let token = admin_token(visitor(depot), req)?.to_owned();
    let id = id_param(req)?;
    let form = product_form(req).await;
    let outcome = match changes(&form) {
        Ok(changes) => shop(depot)
            .api
            .update_product(&token, id, &changes.into())
            .await
            .map_err(Err),
        Err(message) => Err(Ok(message)),
    };
    match outcome {
        Ok(_) => {
            res.render(Redirect::other(format!("/admin/products/{id}?saved=1")));
            Ok(())
        }
        Err(Ok(message)) => refused(req, depot, res, message, &form, Some(id)).await,
        Err(Err(error @ ApiError::Refused { .. })) if error.status() != Some(404) => {
            refused(req, depot, res, explain(&error), &form, Some(id)).await
        }
        Err(Err(error)) => Err(ErrorPage::from_api(&error, req.uri().path())),
    }
}

/// Adds units to the stock as it is now. Two admins restocking at once could both read the
/// same figure; the Product Service has no increment, and the edit form shows the result.
#[handler]
pub async fn restock(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ErrorPage> {
    let token = admin_token(visitor(depot), req)?.to_owned();
    let id = id_param(req)?;
    let add = field(req, "add")
        .await
        .parse::<i64>()
        .ok()
        .filter(|add| *add > 0);
    let shop = shop(depot);
    let back = format!("/admin/products/{id}");
    let product = shop
        .api
        .product(id)
        .await
        .map_err(|error| ErrorPage::from_api(&error, &back))?;
    let Some(add) = add else {
        let message = "Please check: units to add must be a whole number above 0.".to_owned();
        return refused(
            req,
            depot,
            res,
            message,
            &ProductForm::from(&product),
            Some(id),
        )
        .await;
    };
    let changes = UpdateProductRequest {
        quantity: Some(i64::from(product.quantity).saturating_add(add)),
        ..UpdateProductRequest::default()
    };
    match shop.api.update_product(&token, id, &changes).await {
        Ok(_) => {
            res.render(Redirect::other(format!("{back}?saved=1")));
            Ok(())
        }
        Err(error @ ApiError::Refused { .. }) if error.status() != Some(404) => {
            refused(
                req,
                depot,
                res,
                explain(&error),
                &ProductForm::from(&product),
                Some(id),
            )
            .await
        }
        Err(error) => Err(ErrorPage::from_api(&error, &back)),
    }
}

#[handler]
pub async fn orders(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ErrorPage> {
    let token = admin_token(visitor(depot), req)?;
    let shop = shop(depot);
    let mut rows: Vec<FulfilmentRow> = Vec::new();
    if let Some(id) = req.query::<i64>("order") {
        let order = shop
            .api
            .order(token, id)
            .await
            .map_err(|error| ErrorPage::from_api(&error, "/admin/orders"))?;
        rows.push(FulfilmentRow {
            id: order.id,
            customer: format!("user {}", order.user_id),
            product: order.product_name,
            quantity: i64::from(order.quantity),
            status: order.status,
        });
    }
    rows.extend(
        shop.hub
            .recent_orders(50)
            .iter()
            .filter(|update| rows.first().is_none_or(|first| first.id != update.order_id))
            .map(|update| FulfilmentRow {
                id: update.order_id,
                customer: update.username.clone(),
                product: update.product_name.clone(),
                quantity: update.quantity,
                status: update.status,
            })
            .collect::<Vec<_>>(),
    );
    // Only ids come back in the query: no text from a URL is ever shown as ours.
    let notice = match req.query::<i64>("refused") {
        Some(id) => Some(Notice::Error(format!(
            "Order #{id} could not be moved on: its status changed meanwhile. See its status below."
        ))),
        None => req
            .query::<i64>("done")
            .map(|id| Notice::Info(format!("Order #{id} updated."))),
    };
    let body = orders_view(&rows, visitor(depot), shop.hub.is_live());
    page(
        res,
        visitor(depot),
        "Fulfilment",
        notice.as_ref(),
        None,
        &body,
    );
    Ok(())
}

/// Moves an order one step on; a refused move (someone else got there first) is explained.
#[handler]
pub async fn advance(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ErrorPage> {
    let token = admin_token(visitor(depot), req)?.to_owned();
    let id = id_param(req)?;
    // Fulfilment moves an order on; nothing moves one back to pending.
    let Some(status) = OrderStatus::parse(&field(req, "status").await)
        .filter(|status| *status != OrderStatus::Pending)
    else {
        return Err(ErrorPage::BadRequest(StatusCode::BAD_REQUEST));
    };
    match shop(depot).api.set_order_status(&token, id, status).await {
        Ok(_) => res.render(Redirect::other(format!(
            "/admin/orders?done={id}&order={id}"
        ))),
        Err(error @ ApiError::Refused { .. }) if error.status() != Some(404) => {
            tracing::info!(order = id, error = %error, "fulfilment step refused");
            res.render(Redirect::other(format!(
                "/admin/orders?refused={id}&order={id}"
            )));
        }
        Err(error) => return Err(ErrorPage::from_api(&error, "/admin/orders")),
    }
    Ok(())
}
