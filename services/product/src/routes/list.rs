//! `GET /products`: public listing with filters, skip/limit and keyset cursor.

use std::sync::Arc;

use salvo::http::header::{CONTENT_TYPE, HeaderValue};
use salvo::oapi::schema::Object;
use salvo::oapi::{BasicType, ToParameters};
use salvo::prelude::*;
use serde::Deserialize;
use shop_http::openapi;
use shop_http::problem::FieldError;
use shop_http::server::state;

use super::{ProductResponse, collect};
use crate::cache::{ListCache, PageLookup};
use crate::domain::{DECIMAL_PATTERN, ProductName, parse_price_bound, parse_search};
use crate::error::ProductError;
use crate::repository::ListFilter;
use crate::state::AppState;

pub const DEFAULT_LIMIT: i64 = 20;
pub const MAX_LIMIT: i64 = 100;
/// OFFSET costs a scan of every skipped row; past this, clients page with `cursor`.
pub const MAX_SKIP: i64 = 10_000;

/// Query of `GET /products`. Unknown parameters are refused (422), so a misspelt filter is not
/// silently ignored.
#[derive(Debug, Default, Deserialize, ToParameters)]
#[serde(deny_unknown_fields)]
#[salvo(parameters(default_parameter_in = Query))]
pub struct ListQuery {
    /// Rows to skip (default 0), after `cursor` when both are given. Prefer `cursor` for deep
    /// pages.
    #[salvo(parameter(schema_with = skip_schema))]
    pub skip: Option<i64>,
    /// Page size (default 20).
    #[salvo(parameter(schema_with = limit_schema))]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page: continues after it at constant cost.
    #[salvo(parameter(schema_with = cursor_schema))]
    pub cursor: Option<String>,
    /// Case-insensitive substring of the name.
    #[salvo(parameter(schema_with = search_schema))]
    pub name: Option<String>,
    /// Lowest price, inclusive, e.g. `10.00` (above `max_price`, the page is empty).
    #[salvo(parameter(schema_with = decimal_schema))]
    pub min_price: Option<String>,
    /// Highest price, inclusive.
    #[salvo(parameter(schema_with = decimal_schema))]
    pub max_price: Option<String>,
}

// The parameters' schemas, from the bounds `validate` checks.
fn skip_schema() -> Object {
    openapi::integer(0, MAX_SKIP)
}

fn limit_schema() -> Object {
    openapi::integer(1, MAX_LIMIT)
}

/// Cursors are the positive ids this service hands out in `next_cursor`.
fn cursor_schema() -> Object {
    Object::with_type(BasicType::String).pattern(r"^[1-9][0-9]{0,17}$")
}

fn search_schema() -> Object {
    openapi::text(0, ProductName::MAX_CHARS).pattern(openapi::NO_NUL)
}

fn decimal_schema() -> Object {
    Object::with_type(BasicType::String).pattern(DECIMAL_PATTERN)
}

pub use shop_contract::product::ProductPage;

/// List products (public), oldest first, filtered by name and price range.
///
/// Pages with `skip`/`limit` or, at constant cost however deep, with `cursor`/`limit`. Pages are
/// cached in Redis; a product write that has returned is always reflected.
#[endpoint(
    tags("products"),
    parameters(ListQuery),
    responses((status_code = 200, description = "A page of products", body = ProductPage))
)]
pub async fn list_products(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ProductError> {
    let query = parse_query(req.uri().query().unwrap_or_default())?;
    let filter = validate(query)?;
    let state = state::<Arc<AppState>>(depot);
    let query_key = ListCache::query_key(&filter);
    let fill = match &query_key {
        Some(query_key) => match state.caches.pages.get(query_key).await {
            PageLookup::Hit(page) => {
                write_json(res, page);
                return Ok(());
            }
            PageLookup::Miss { fill } => fill,
        },
        None => None,
    };
    // One row more than asked tells whether another page follows.
    let mut products = state
        .products
        .list(&ListFilter {
            limit: filter.limit + 1,
            ..filter.clone()
        })
        .await?;
    let more = products.len() as i64 > filter.limit;
    products.truncate(usize::try_from(filter.limit).unwrap_or(0));
    let next_cursor = more
        .then(|| products.last().map(|product| product.id.to_string()))
        .flatten();
    let page = serde_json::to_vec(&ProductPage {
        items: products.iter().map(ProductResponse::from).collect(),
        limit: filter.limit,
        next_cursor,
    })?;
    if let (Some(fill), Some(query_key)) = (fill, &query_key) {
        state.caches.pages.fill(fill, query_key, &page).await;
    }
    write_json(res, page);
    Ok(())
}

fn write_json(res: &mut Response, body: Vec<u8>) {
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res.body(body);
}

fn parse_query(raw: &str) -> Result<ListQuery, ProductError> {
    let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded::parse(raw.as_bytes()));
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        FieldError::new(error.path().to_string(), error.inner().to_string()).into()
    })
}

fn validate(query: ListQuery) -> Result<ListFilter, ProductError> {
    let mut errors = Vec::new();
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        errors.push(FieldError::new(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        ));
    }
    let skip = query.skip.unwrap_or(0);
    if !(0..=MAX_SKIP).contains(&skip) {
        errors.push(FieldError::new(
            "skip",
            format!("must be between 0 and {MAX_SKIP}; page deeper with cursor"),
        ));
    }
    let after_id = query.cursor.as_deref().and_then(|cursor| {
        let parsed = cursor.parse::<i64>().ok().filter(|id| *id > 0);
        if parsed.is_none() {
            errors.push(FieldError::new(
                "cursor",
                "is not a cursor this service issued",
            ));
        }
        parsed
    });
    let name = query
        .name
        .and_then(|name| collect(parse_search(&name), &mut errors));
    let min_price = query
        .min_price
        .and_then(|text| collect(parse_price_bound("min_price", &text), &mut errors));
    let max_price = query
        .max_price
        .and_then(|text| collect(parse_price_bound("max_price", &text), &mut errors));
    if !errors.is_empty() {
        return Err(ProductError::Validation(errors));
    }
    Ok(ListFilter {
        name,
        min_price,
        max_price,
        after_id,
        skip,
        limit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(raw: &str) -> Vec<String> {
        match parse_query(raw).and_then(validate) {
            Ok(_) => Vec::new(),
            Err(ProductError::Validation(errors)) => {
                errors.into_iter().map(|error| error.field).collect()
            }
            Err(other) => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn good_queries_pass() {
        assert!(fields("").is_empty());
        assert!(fields("limit=100&cursor=42&name=mug&min_price=1&max_price=2.50").is_empty());
        // Each parameter stands alone, as the OpenAPI document can state: `skip` counts rows
        // after the cursor, and a price range with its ends crossed is simply empty.
        assert!(fields("cursor=5&skip=5").is_empty());
        assert!(fields("min_price=3&max_price=2").is_empty());
    }

    #[test]
    fn a_price_bound_too_long_for_a_decimal_filters_like_one_beyond_every_price() {
        // The pattern sets no length; schemathesis sent this one and got a 422.
        let filter = parse_query("max_price=-8364186108552481243376055809923194&min_price=99999999999999999999999999999999.5")
            .and_then(validate)
            .expect("any decimal the pattern allows is a bound");
        let beyond = rust_decimal::Decimal::from(100_000_000_000_i64);
        assert_eq!(filter.max_price, Some(-beyond));
        assert_eq!(filter.min_price, Some(beyond));
        let padded = parse_query("min_price=-00000000000000000000000000000000012.5")
            .and_then(validate)
            .expect("leading zeros are digits the pattern allows");
        assert_eq!(padded.min_price, Some(rust_decimal::Decimal::new(-1250, 2)));
        assert_eq!(
            fields("max_price=123456789012345678901234567890.123"),
            ["max_price"]
        );
        assert_eq!(
            fields("min_price=-12345678901234567890123456789x"),
            ["min_price"]
        );
    }

    #[test]
    fn every_bad_parameter_is_named() {
        assert_eq!(fields("limit=0"), ["limit"]);
        assert_eq!(fields("limit=101"), ["limit"]);
        assert_eq!(fields("limit=ten"), ["limit"]);
        assert_eq!(fields("skip=-1"), ["skip"]);
        assert_eq!(fields("skip=10001"), ["skip"]);
        assert_eq!(fields("cursor=abc"), ["cursor"]);
        assert_eq!(fields("min_price=1.234"), ["min_price"]);
        assert_eq!(fields("colour=red"), ["colour"]);
    }
}
