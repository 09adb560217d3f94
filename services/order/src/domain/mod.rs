//! Order rules: the stored order and its changes ([`order`]), the status lifecycle and who may
//! move an order along it ([`lifecycle`]), valid quantities and exact totals.

mod lifecycle;
mod order;

use rust_decimal::Decimal;
use salvo::oapi::{Components, RefOr, Schema, ToSchema};
use shop_http::openapi;
use shop_http::problem::FieldError;

pub use lifecycle::{Lifecycle, TransitionError};
pub use order::{Change, NewOrder, Order, Refusal};
pub use order_events::OrderStatus;

/// Units of one product in an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantity(i32);

impl Quantity {
    pub const MAX: i64 = 10_000;

    pub fn parse(raw: i64) -> Result<Self, FieldError> {
        FieldError::count_in("quantity", raw, 1, Self::MAX).map(Self)
    }

    pub fn get(self) -> i32 {
        self.0
    }
}

impl ToSchema for Quantity {
    fn to_schema(_: &mut Components) -> RefOr<Schema> {
        openapi::integer(1, Self::MAX).example(2).into()
    }
}

/// The price of `quantity` units, exact to the cent.
pub fn total_price(unit_price: Decimal, quantity: Quantity) -> Decimal {
    (unit_price * Decimal::from(quantity.get())).round_dp(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantity_bounds() {
        assert!(Quantity::parse(0).is_err());
        assert!(Quantity::parse(-3).is_err());
        assert!(Quantity::parse(1).is_ok());
        assert!(Quantity::parse(10_000).is_ok());
        assert!(Quantity::parse(10_001).is_err());
    }

    #[test]
    fn totals_are_exact() {
        let unit: Decimal = "0.10".parse().unwrap();
        let total = total_price(unit, Quantity::parse(3).unwrap());
        assert_eq!(total.to_string(), "0.30");
        let unit: Decimal = "19.99".parse().unwrap();
        assert_eq!(
            total_price(unit, Quantity::parse(7).unwrap()).to_string(),
            "139.93"
        );
    }
}
