//! Order rules: the stored order, who acts on it and its changes ([`order`]), the status lifecycle and who may
//! move an order along it ([`lifecycle`]), valid quantities and exact totals.

mod lifecycle;
mod order;

use rust_decimal::Decimal;

pub use lifecycle::{Lifecycle, TransitionError};
pub use order::{Actor, Change, NewOrder, Order, Refusal};
pub use order_events::OrderStatus;

/// Units of one product in an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantity(i32);

impl Quantity {
    pub const MIN: i64 = 1;
    pub const MAX: i64 = shop_contract::order::QUANTITY_MAX;

    pub fn parse(raw: i64) -> Result<Self, OutOfRange> {
        if !(Self::MIN..=Self::MAX).contains(&raw) {
            return Err(OutOfRange {
                field: "quantity",
                min: Self::MIN,
                max: Self::MAX,
            });
        }
        Ok(Self(i32::try_from(raw).expect("Quantity::MAX fits in i32")))
    }

    pub fn get(self) -> i32 {
        self.0
    }
}

/// A number outside the bounds the domain allows for `field`. The message leaves the field
/// out, so whoever reports it can place the field as its format wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("must be between {min} and {max}")]
pub struct OutOfRange {
    pub field: &'static str,
    pub min: i64,
    pub max: i64,
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
        assert_eq!(
            Quantity::parse(0),
            Err(OutOfRange {
                field: "quantity",
                min: 1,
                max: 10_000
            })
        );
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
