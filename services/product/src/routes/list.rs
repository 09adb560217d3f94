//! `GET /products`: public listing with filters, skip/limit and keyset cursor.

use std::sync::Arc;

use salvo::http::header::{CONTENT_TYPE, HeaderValue};
use salvo::oapi::{ToParameters, ToSchema};
use salvo::prelude::*;
use serde::{Deserialize, Serialize};
use service_runtime::problem::FieldError;
use service_runtime::server::state;

use super::{ProductResponse, collect};
use crate::domain::{parse_decimal, parse_search};
use crate::error::ProductError;
use crate::list_cache::{ListCache, PageLookup};
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
    /// Rows to skip, 0–10,000 (default 0). Prefer `cursor` for deep pages.
    pub skip: Option<i64>,
    /// Page size, 1–100 (default 20).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page: continues after it at constant cost.
    pub cursor: Option<String>,
    /// Case-insensitive substring of the name.
    pub name: Option<String>,
    /// Lowest price, inclusive, e.g. `10.00`.
    pub min_price: Option<String>,
    /// Highest price, inclusive.
    pub max_price: Option<String>,
}

/// One page of products in id order.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProductPage {
    pub items: Vec<ProductResponse>,
    /// The page size used.
    pub limit: i64,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// List products (public), oldest first, filtered by name and price range.
///
/// Pages with `skip`/`limit` or, at constant cost however deep, with `cursor`/`limit`. Pages are
/// cached in Redis; a product write that has returned is always reflected.
#[endpoint(
    tags("products"),
    parameters(ListQuery),
    responses((status_code = 200, description = "A page of products", body = ProductPage)),
    status_codes(200, 422, 500, 503)
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
    let generation = match &query_key {
        Some(query_key) => match state.pages.get(query_key).await {
            PageLookup::Hit(page) => {
                write_json(res, page);
                return Ok(());
            }
            PageLookup::Miss { generation } => generation,
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
    if let (Some(generation), Some(query_key)) = (generation, &query_key) {
        state.pages.fill(generation, query_key, &page).await;
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
    if after_id.is_some() && skip > 0 {
        errors.push(FieldError::new("skip", "cannot be combined with cursor"));
    }
    let name = query
        .name
        .and_then(|name| collect(parse_search(&name), &mut errors));
    let min_price = query
        .min_price
        .and_then(|text| collect(parse_decimal("min_price", &text), &mut errors));
    let max_price = query
        .max_price
        .and_then(|text| collect(parse_decimal("max_price", &text), &mut errors));
    if let (Some(min), Some(max)) = (min_price, max_price)
        && min > max
    {
        errors.push(FieldError::new("min_price", "must not exceed max_price"));
    }
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
    }

    #[test]
    fn every_bad_parameter_is_named() {
        assert_eq!(fields("limit=0"), ["limit"]);
        assert_eq!(fields("limit=101"), ["limit"]);
        assert_eq!(fields("limit=ten"), ["limit"]);
        assert_eq!(fields("skip=-1"), ["skip"]);
        assert_eq!(fields("skip=10001"), ["skip"]);
        assert_eq!(fields("cursor=abc"), ["cursor"]);
        assert_eq!(fields("cursor=5&skip=5"), ["skip"]);
        assert_eq!(fields("min_price=3&max_price=2"), ["min_price"]);
        assert_eq!(fields("min_price=1.234"), ["min_price"]);
        assert_eq!(fields("colour=red"), ["colour"]);
    }
}
