//! What the write endpoints do, apart from HTTP: [`place`] an order (claim the idempotency key,
//! reserve stock, store the order and its event, give the stock back on failure) and [`change`]
//! one (status changes and deletion under the order's row lock, then stock release). Handlers
//! parse the request, call one function here and render its result.

pub mod change;
pub mod place;

use crate::domain::{Actor, Refusal};
use crate::error::OrderError;
use crate::repository::ChangeError;
use crate::state::AppState;
use crate::write_rate::Admission;

pub use change::{change_status, delete_order};
pub use place::{PlaceOrder, Placed, place_order};

impl From<Refusal> for OrderError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::NotFound => Self::NotFound,
            Refusal::Transition(error) => Self::Transition(error),
            Refusal::NotDeletable(status) => Self::NotDeletable(status.as_str()),
        }
    }
}

impl From<ChangeError> for OrderError {
    fn from(error: ChangeError) -> Self {
        match error {
            ChangeError::Refused(refusal) => refusal.into(),
            ChangeError::Database(error) => Self::Database(error),
        }
    }
}

/// Counts one order write of `actor`'s, or refuses it when their window is full. Called before
/// anything else the write does, so a refused write has no side effect.
async fn admit_write(state: &AppState, actor: &Actor) -> Result<(), OrderError> {
    match state.write_rate.admit(actor.user_id).await? {
        Admission::Admitted => Ok(()),
        Admission::Refused { retry_after } => {
            tracing::info!(user_id = actor.user_id, "order write refused: rate limit");
            Err(OrderError::TooManyWrites { retry_after })
        }
    }
}
