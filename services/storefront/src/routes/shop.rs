//! Browsing and buying: the catalogue, a product's page, checkout.

use std::str::FromStr;

use rust_decimal::Decimal;
use salvo::prelude::*;

use crate::api::{ApiError, ProductQuery};
use crate::routes::{account_unavailable, field, id_param, page, shop};
use crate::session::visitor;
use crate::views::errors::ErrorPage;
use crate::views::shop::{Filters, catalogue as catalogue_view, product as product_view};
use crate::views::{Notice, explain};

/// Deeper than this the Product Service refuses `skip`; nobody pages that far by hand.
const MAX_SKIP: u32 = 10_000;

/// A price filter as typed: empty is no filter; anything else must be a non-negative amount.
fn price(text: &str, label: &str) -> Result<Option<Decimal>, String> {
    if text.is_empty() {
        return Ok(None);
    }
    match Decimal::from_str(text.trim_start_matches('$')) {
        Ok(value) if value >= Decimal::ZERO => Ok(Some(value.round_dp(2))),
        _ => Err(format!("{label} must be an amount such as 10 or 9.99.")),
    }
}

/// The catalogue's filters from the query string, trimmed; control characters cannot be part
/// of a product name (a NUL would not even reach the database).
fn read_filters(req: &Request) -> Filters {
    let query = |name: &str| {
        req.query::<String>(name)
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    let q = query("q");
    Filters {
        q: q.chars().filter(|c| !c.is_control()).take(200).collect(),
        min: query("min"),
        max: query("max"),
        page: req.query::<u32>("page").unwrap_or(1).max(1),
    }
}

/// The price range the filters ask for, or what to tell the visitor about it.
fn price_range(filters: &Filters) -> Result<(Option<Decimal>, Option<Decimal>), String> {
    let min = price(&filters.min, "Min price")?;
    let max = price(&filters.max, "Max price")?;
    match (min, max) {
        (Some(min), Some(max)) if min > max => {
            Err("Min price must not be above max price.".to_owned())
        }
        range => Ok(range),
    }
}

/// An empty catalogue with `message`: a search the visitor has to fix.
fn refused_search(res: &mut Response, depot: &Depot, filters: &Filters, message: String) {
    let body = catalogue_view(filters, &[], false);
    res.status_code(StatusCode::UNPROCESSABLE_ENTITY);
    let notice = Notice::Error(message);
    page(res, visitor(depot), "Catalogue", Some(&notice), None, &body);
}

#[handler]
pub async fn catalogue(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ErrorPage> {
    let shop = shop(depot);
    let filters = read_filters(req);
    let limit = shop.page_size;
    let skip = (filters.page - 1).saturating_mul(u32::from(limit));
    let (min_price, max_price) = match price_range(&filters) {
        Ok(range) => range,
        Err(message) => {
            refused_search(res, depot, &filters, message);
            return Ok(());
        }
    };
    if skip > MAX_SKIP {
        return Err(ErrorPage::NotFound);
    }
    let listing = shop
        .api
        .products(&ProductQuery {
            name: (!filters.q.is_empty()).then(|| filters.q.clone()),
            min_price,
            max_price,
            limit,
            skip,
        })
        .await;
    let products = match listing {
        Ok(products) => products,
        // A search the catalogue refuses (a price beyond its range, say) is the searcher's to fix.
        Err(error @ ApiError::Refused { .. }) => {
            refused_search(res, depot, &filters, explain(&error));
            return Ok(());
        }
        Err(error) => return Err(ErrorPage::from_api(&error, "/")),
    };
    let body = catalogue_view(&filters, &products.items, products.next_cursor.is_some());
    let title = if filters.q.is_empty() {
        "Catalogue".to_owned()
    } else {
        format!("“{}” · Catalogue", filters.q)
    };
    page(res, visitor(depot), &title, None, None, &body);
    Ok(())
}

#[handler]
pub async fn product_page(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ErrorPage> {
    let id = id_param(req)?;
    let shop = shop(depot);
    let product = shop
        .api
        .product(id)
        .await
        .map_err(|error| ErrorPage::from_api(&error, req.uri().path()))?;
    let key = uuid::Uuid::new_v4().to_string();
    let body = product_view(&product, visitor(depot), &key, 1);
    page(res, visitor(depot), &product.name, None, None, &body);
    Ok(())
}

/// Places the order the product form describes, under the form's idempotency key, and shows
/// it; a refusal re-renders the product with the reason and a fresh key.
#[handler]
pub async fn checkout(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ErrorPage> {
    let product_id: i64 = field(req, "product_id")
        .await
        .parse()
        .map_err(|_| ErrorPage::NotFound)?;
    let quantity_text = field(req, "quantity").await;
    let key = field(req, "idempotency_key").await;
    let shop = shop(depot);
    let visitor = visitor(depot).clone();
    let return_to = format!("/products/{product_id}");
    let Some((token, _)) = &visitor.user else {
        if visitor.account_unavailable {
            return Err(account_unavailable());
        }
        return Err(ErrorPage::LogIn { return_to });
    };
    if uuid::Uuid::parse_str(&key).is_err() {
        return Err(ErrorPage::BadRequest(StatusCode::BAD_REQUEST));
    }
    let outcome = match quantity_text.parse::<i64>() {
        Ok(quantity) if (1..=10_000).contains(&quantity) => {
            shop.api
                .place_order(token, product_id, quantity, &key)
                .await
        }
        _ => Err(ApiError::Refused {
            service: "the shop",
            problem: shop_http::problem::Problem::validation(vec![
                shop_http::problem::FieldError::new(
                    "quantity",
                    "must be a whole number from 1 to 10000",
                ),
            ]),
        }),
    };
    match outcome {
        Ok(order) => {
            res.render(Redirect::other(format!("/orders/{}?placed=1", order.id)));
            Ok(())
        }
        Err(ApiError::Refused { problem, .. }) if problem.status == 404 => Err(ErrorPage::NotFound),
        Err(error @ ApiError::Refused { .. }) => {
            let product = shop
                .api
                .product(product_id)
                .await
                .map_err(|error| ErrorPage::from_api(&error, &return_to))?;
            let fresh_key = uuid::Uuid::new_v4().to_string();
            let quantity = quantity_text.parse().unwrap_or(1);
            let body = product_view(&product, &visitor, &fresh_key, quantity);
            res.status_code(if error.status() == Some(409) {
                StatusCode::CONFLICT
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            });
            page(
                res,
                &visitor,
                &product.name,
                Some(&Notice::Error(explain(&error))),
                None,
                &body,
            );
            Ok(())
        }
        Err(error) => Err(ErrorPage::from_api(&error, &return_to)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn price_filters_accept_amounts_and_refuse_the_rest() {
        assert_eq!(price("", "Min").unwrap(), None);
        assert_eq!(price("$9.99", "Min").unwrap(), Some(Decimal::new(999, 2)));
        assert_eq!(price("10", "Min").unwrap(), Some(Decimal::new(10, 0)));
        assert!(price("-1", "Min").is_err());
        assert!(
            price("ten", "Min")
                .unwrap_err()
                .contains("Min must be an amount")
        );
    }
}
