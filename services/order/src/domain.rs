//! Order rules: the status lifecycle and who may move an order along it, and valid quantities.

use rust_decimal::Decimal;
use salvo::oapi::{Components, RefOr, Schema, ToSchema};
use serde::{Deserialize, Serialize};
use service_runtime::openapi;
use service_runtime::problem::FieldError;

/// Where an order is in its life. `completed` and `cancelled` are final.
///
/// ```text
/// pending ──confirm──▶ confirmed ──ship──▶ shipped ──complete──▶ completed
///    │                     │
///    └──────cancel─────────┴──────▶ cancelled
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, salvo::oapi::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OrderStatus {
    Pending,
    Confirmed,
    Shipped,
    Completed,
    Cancelled,
}

/// Why a status change is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("an order cannot go from {from} to {to}")]
    Illegal {
        from: &'static str,
        to: &'static str,
    },
    #[error("only an admin may move an order to {to}")]
    AdminOnly { to: &'static str },
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Confirmed => "confirmed",
            Self::Shipped => "shipped",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn from_db(value: &str) -> Self {
        match value {
            "confirmed" => Self::Confirmed,
            "shipped" => Self::Shipped,
            "completed" => Self::Completed,
            "cancelled" => Self::Cancelled,
            _ => Self::Pending,
        }
    }

    pub fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Cancelled)
    }

    /// Checks that `actor` may move an order from `self` to `next`. Owners may only cancel a
    /// pending order; every fulfilment step is an admin's.
    pub fn check_transition(self, next: Self, is_admin: bool) -> Result<(), TransitionError> {
        use OrderStatus::{Cancelled, Completed, Confirmed, Pending, Shipped};
        let legal = matches!(
            (self, next),
            (Pending, Confirmed | Cancelled)
                | (Confirmed, Shipped | Cancelled)
                | (Shipped, Completed)
        );
        if !legal {
            return Err(TransitionError::Illegal {
                from: self.as_str(),
                to: next.as_str(),
            });
        }
        let owner_may = matches!((self, next), (Pending, Cancelled));
        if !owner_may && !is_admin {
            return Err(TransitionError::AdminOnly { to: next.as_str() });
        }
        Ok(())
    }

    /// Whether stock is still held for an order in this status.
    pub fn holds_stock(self) -> bool {
        !matches!(self, Self::Cancelled)
    }
}

/// Units of one product in an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantity(i32);

impl Quantity {
    pub const MAX: i64 = 10_000;

    pub fn parse(raw: i64) -> Result<Self, FieldError> {
        if !(1..=Self::MAX).contains(&raw) {
            return Err(FieldError::new(
                "quantity",
                format!("must be between 1 and {}", Self::MAX),
            ));
        }
        Ok(Self(i32::try_from(raw).expect("bounded above")))
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
    use super::OrderStatus::*;
    use super::*;

    #[test]
    fn owners_may_only_cancel_pending_orders() {
        assert!(Pending.check_transition(Cancelled, false).is_ok());
        assert_eq!(
            Pending.check_transition(Confirmed, false),
            Err(TransitionError::AdminOnly { to: "confirmed" })
        );
        assert!(Confirmed.check_transition(Cancelled, false).is_err());
        assert!(Confirmed.check_transition(Cancelled, true).is_ok());
    }

    #[test]
    fn final_states_never_change() {
        for from in [Completed, Cancelled] {
            for to in [Pending, Confirmed, Shipped, Completed, Cancelled] {
                assert!(matches!(
                    from.check_transition(to, true),
                    Err(TransitionError::Illegal { .. })
                ));
            }
        }
    }

    #[test]
    fn fulfilment_goes_in_order() {
        assert!(Pending.check_transition(Shipped, true).is_err());
        assert!(Pending.check_transition(Confirmed, true).is_ok());
        assert!(Confirmed.check_transition(Shipped, true).is_ok());
        assert!(Shipped.check_transition(Completed, true).is_ok());
        assert!(Shipped.check_transition(Cancelled, true).is_err());
    }

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
