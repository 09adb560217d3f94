//! The Order Service's API: `/orders` and `/orders/{id}`.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

pub use order_events::OrderStatus;

use crate::whole_number;

/// Units of one product in an order: 1 to 10,000.
pub const QUANTITY_MAX: i64 = 10_000;

/// An order as clients see it. Money is a decimal string with two places.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(salvo::oapi::ToSchema), salvo(schema(name = Order)))]
pub struct Order {
    pub id: i64,
    pub user_id: i64,
    pub product_id: i64,
    pub product_name: String,
    #[cfg_attr(feature = "openapi", salvo(schema(value_type = String, example = "19.99")))]
    pub unit_price: Decimal,
    pub quantity: i32,
    #[cfg_attr(feature = "openapi", salvo(schema(value_type = String, example = "39.98")))]
    pub total_price: Decimal,
    pub status: OrderStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One page of the caller's orders, newest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(salvo::oapi::ToSchema))]
pub struct OrderPage {
    pub items: Vec<Order>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<i64>,
}

/// `POST /orders`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(salvo::oapi::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateOrderRequest {
    /// A product of the catalogue (an unknown one is a 422).
    #[serde(deserialize_with = "whole_number::required")]
    #[cfg_attr(feature = "openapi", salvo(schema(schema_with = product_id_schema)))]
    pub product_id: i64,
    #[serde(deserialize_with = "whole_number::required")]
    #[cfg_attr(feature = "openapi", salvo(schema(value_type = schemas::Quantity)))]
    pub quantity: i64,
}

/// `PUT /orders/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(salvo::oapi::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateOrderRequest {
    /// The new status. Owners may cancel a pending order; confirm, ship and complete (and
    /// cancelling a confirmed order) need the admin role.
    pub status: OrderStatus,
}

/// Ids are positive; the service refuses anything else.
#[cfg(feature = "openapi")]
fn product_id_schema() -> salvo::oapi::schema::Object {
    crate::schema::integer(1, i64::MAX).example(1)
}

/// Schemas of the bounded fields, from the bounds above. Types rather than functions, so that a
/// field's own doc comment is kept beside its type's schema in the document.
#[cfg(feature = "openapi")]
mod schemas {
    use salvo::oapi::{Components, RefOr, Schema, ToSchema};

    use super::*;

    /// The schema of a Quantity field.
    #[derive(Debug)]
    pub struct Quantity;

    impl ToSchema for Quantity {
        fn to_schema(_: &mut Components) -> RefOr<Schema> {
            crate::schema::integer(1, QUANTITY_MAX).example(2).into()
        }
    }
}
