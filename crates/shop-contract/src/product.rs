//! The Product Service's API: the catalogue (`/products`) and the stock reservations the Order
//! Service makes (`/internal/reservations`).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::whole_number;

/// Names are 1 to 200 characters, not blank.
pub const NAME_MAX_CHARS: usize = 200;
/// Not blank and no NUL.
pub const NAME_PATTERN: &str = r"^[^\u0000]*[^\s\u0000][^\u0000]*$";
/// Descriptions are up to 5,000 characters, blank allowed.
pub const DESCRIPTION_MAX_CHARS: usize = 5_000;
/// The largest price `NUMERIC(12,2)` holds: 9,999,999,999.99.
pub const PRICE_MAX: Decimal = Decimal::from_parts(3_567_587_327, 232, 0, false, 2);
/// A price as text: up to ten integer digits and two decimals, more than zero (leading zeros
/// allowed, no exponent).
pub const PRICE_PATTERN: &str = r"^(0*[1-9][0-9]{0,9}(\.[0-9]{1,2})?|0+\.(0[1-9]|[1-9][0-9]?))$";
/// Units on hand: 0 to 1,000,000,000 (so stock plus any reservation fits an INTEGER).
pub const STOCK_MAX: i64 = 1_000_000_000;
/// Units one reservation may hold: 1 to 10,000.
pub const RESERVED_QUANTITY_MAX: i64 = 10_000;

/// A product as clients see it. `price` is a decimal string with two places, exact.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(salvo::oapi::ToSchema), salvo(schema(name = Product)))]
pub struct Product {
    pub id: i64,
    pub name: String,
    pub description: String,
    #[cfg_attr(feature = "openapi", salvo(schema(value_type = String, example = "19.99")))]
    pub price: Decimal,
    /// Units in stock.
    pub quantity: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One page of products in id order.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(salvo::oapi::ToSchema))]
pub struct ProductPage {
    pub items: Vec<Product>,
    /// The page size used.
    pub limit: i64,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// A new product. Unknown fields are refused (422), so a misspelt field is never silently lost.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(salvo::oapi::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateProductRequest {
    #[cfg_attr(feature = "openapi", salvo(schema(value_type = schemas::ProductName)))]
    pub name: String,
    /// Empty when left out.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", salvo(schema(value_type = schemas::Description)))]
    pub description: String,
    /// Parsed from the JSON text itself, so no float ever rounds it.
    // A client builds it with `price_text`.
    #[cfg_attr(feature = "openapi", salvo(schema(value_type = schemas::Price)))]
    pub price: Box<RawValue>,
    /// Units in stock.
    #[serde(deserialize_with = "whole_number::required")]
    #[cfg_attr(feature = "openapi", salvo(schema(value_type = schemas::Stock)))]
    pub quantity: i64,
}

/// A partial update: fields left out keep their value; `null` and unknown fields are refused.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(salvo::oapi::ToSchema),
    salvo(schema(min_properties = 1))
)]
#[serde(deny_unknown_fields)]
pub struct UpdateProductRequest {
    // `Option` only says "left out": `null` is refused, so the schemas are not nullable.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", salvo(schema(value_type = schemas::ProductName)))]
    pub name: Option<String>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", salvo(schema(value_type = schemas::Description)))]
    pub description: Option<String>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", salvo(schema(value_type = schemas::Price)))]
    pub price: Option<Box<RawValue>>,
    /// Sets the stock on hand.
    #[serde(
        default,
        deserialize_with = "whole_number::optional",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", salvo(schema(value_type = schemas::Stock)))]
    pub quantity: Option<i64>,
}

/// An update that sets every field to the new product's.
impl From<CreateProductRequest> for UpdateProductRequest {
    fn from(product: CreateProductRequest) -> Self {
        Self {
            name: Some(product.name),
            description: Some(product.description),
            price: Some(product.price),
            quantity: Some(product.quantity),
        }
    }
}

/// `POST /internal/reservations` (the Order Service, with the service credential).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(salvo::oapi::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReservationRequest {
    /// Chosen by the caller (one per order); a retry with the same id reserves nothing new.
    pub reservation_id: Uuid,
    #[serde(deserialize_with = "whole_number::required")]
    pub product_id: i64,
    #[serde(deserialize_with = "whole_number::required")]
    #[cfg_attr(feature = "openapi", salvo(schema(value_type = schemas::ReservedQuantity)))]
    pub quantity: i64,
}

/// A reservation, with the product's name and price when it was made.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(salvo::oapi::ToSchema))]
pub struct ReservationResponse {
    pub reservation_id: Uuid,
    pub product_id: i64,
    /// The product's name when reserved.
    pub product_name: String,
    /// The product's price when reserved: a decimal string with two places.
    #[cfg_attr(feature = "openapi", salvo(schema(value_type = String, example = "19.99")))]
    pub unit_price: Decimal,
    pub quantity: i32,
    /// `reserved`; `confirmed` once its order is stored; `released` once given back;
    /// `expired` when no order confirmed it in time and its stock went back.
    pub status: String,
}

/// A price as clients should send it: a JSON string (`"19.99"`), which no float rounds.
pub fn price_text(price: &str) -> Box<RawValue> {
    RawValue::from_string(serde_json::Value::from(price).to_string())
        .expect("a JSON string is valid JSON")
}

/// A field that may be left out but, when present, is not `null`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(deserializer).map(Some)
}

/// Schemas of the bounded fields, from the bounds above. Types rather than functions, so that a
/// field's own doc comment is kept beside its type's schema in the document.
#[cfg(feature = "openapi")]
mod schemas {
    use salvo::oapi::{Components, RefOr, Schema, ToSchema};

    use super::*;

    /// The schema of a ProductName field.
    #[derive(Debug)]
    pub struct ProductName;

    impl ToSchema for ProductName {
        fn to_schema(_: &mut Components) -> RefOr<Schema> {
            crate::schema::text(1, NAME_MAX_CHARS)
                .pattern(NAME_PATTERN)
                .description("Not blank; stored exactly as sent.")
                .example("Coffee mug")
                .into()
        }
    }

    /// The schema of a Description field.
    #[derive(Debug)]
    pub struct Description;

    impl ToSchema for Description {
        fn to_schema(_: &mut Components) -> RefOr<Schema> {
            crate::schema::text(0, DESCRIPTION_MAX_CHARS)
                .pattern(crate::schema::NO_NUL)
                .example("Stoneware, 350 ml.")
                .into()
        }
    }

    /// The schema of a Price field.
    #[derive(Debug)]
    pub struct Price;

    impl ToSchema for Price {
        fn to_schema(_: &mut Components) -> RefOr<Schema> {
            use salvo::oapi::BasicType;
            use salvo::oapi::schema::{AnyOf, Object};

            let max = PRICE_MAX.to_string();
            let as_string = Object::with_type(BasicType::String)
                .pattern(PRICE_PATTERN)
                .example("19.99");
            let as_number = Object::with_type(BasicType::Number)
                .exclusive_minimum(0)
                .maximum(max.parse::<f64>().unwrap_or(f64::MAX))
                .multiple_of(0.01);
            AnyOf::new()
                .item(as_string)
                .item(as_number)
                .description(
                    "More than 0, at most two decimals, at most 9999999999.99: a JSON string \
                     (preferred, exact) or number.",
                )
                .into()
        }
    }

    /// The schema of a Stock field.
    #[derive(Debug)]
    pub struct Stock;

    impl ToSchema for Stock {
        fn to_schema(_: &mut Components) -> RefOr<Schema> {
            crate::schema::integer(0, STOCK_MAX).example(25).into()
        }
    }

    /// The schema of a ReservedQuantity field.
    #[derive(Debug)]
    pub struct ReservedQuantity;

    impl ToSchema for ReservedQuantity {
        fn to_schema(_: &mut Components) -> RefOr<Schema> {
            crate::schema::integer(1, RESERVED_QUANTITY_MAX)
                .example(2)
                .into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_price_bound_is_numeric_12_2() {
        assert_eq!(PRICE_MAX.to_string(), "9999999999.99");
    }

    #[test]
    fn an_update_sends_only_what_it_changes() {
        let update = UpdateProductRequest {
            quantity: Some(3),
            ..UpdateProductRequest::default()
        };
        assert_eq!(serde_json::to_string(&update).unwrap(), r#"{"quantity":3}"#);
        assert_eq!(price_text("19.99").get(), r#""19.99""#);
    }
}
