//! The status lifecycle and who may move an order along it. The statuses themselves are the
//! event contract's ([`order_events::OrderStatus`]); the rules are this service's.

use order_events::OrderStatus;

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

/// The Order Service's rules on a status.
pub trait Lifecycle: Copy {
    /// Checks that an actor may move an order from `self` to `next`. Owners may only cancel a
    /// pending order; every fulfilment step is an admin's.
    fn check_transition(self, next: Self, is_admin: bool) -> Result<(), TransitionError>;

    /// Whether stock is still held for an order in this status.
    fn holds_stock(self) -> bool;
}

impl Lifecycle for OrderStatus {
    fn check_transition(self, next: Self, is_admin: bool) -> Result<(), TransitionError> {
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

    fn holds_stock(self) -> bool {
        !matches!(self, Self::Cancelled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderStatus::*;

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
            for to in OrderStatus::ALL {
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
    fn only_a_cancelled_order_gives_its_stock_back() {
        let holding: Vec<_> = OrderStatus::ALL
            .into_iter()
            .filter(|status| !status.holds_stock())
            .collect();
        assert_eq!(holding, [Cancelled]);
    }
}
