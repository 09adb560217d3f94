//! What the write endpoints do, apart from HTTP: [`place`] an order (claim the idempotency key,
//! reserve stock, store the order and its event, give the stock back on failure) and [`change`]
//! one (status changes and deletion under the order's row lock, then stock release). Commands
//! take plain inputs (an [`Actor`], a [`PlaceOrder`]) and end in a domain value or a
//! [`CommandError`]; handlers parse the request, call one function here and render its result.

pub mod change;
pub mod place;

use shop_postgres::DbError;

use crate::domain::{Actor, OrderStatus, Refusal, TransitionError};
use crate::repository::ChangeError;
use crate::state::AppState;
use crate::write_rate::Admission;

pub use change::{change_status, delete_order};
pub use place::{PlaceOrder, Placed, place_order};

/// Why a command did not do what it was asked. These are outcomes of the business, named as
/// such; the route edge gives each its problem document.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// No such order, or not one the actor may see.
    #[error("order not found")]
    NotFound,
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// Only pending or cancelled orders can be deleted.
    #[error("an order that is {} cannot be deleted", .0.as_str())]
    NotDeletable(OrderStatus),
    #[error("product {0} does not exist")]
    UnknownProduct(i64),
    /// The Product Service's reason, empty when it gave none.
    #[error("not enough stock")]
    InsufficientStock(String),
    #[error("the product service refused the order: {0}")]
    ProductRejected(String),
    #[error("the product service is unavailable: {0}")]
    ProductUnavailable(String),
    #[error("idempotency key reused with another request")]
    KeyReused,
    #[error("a request with this idempotency key is in progress")]
    KeyInProgress,
    #[error("too many pending orders")]
    TooManyPending,
    /// The customer's order writes in this window are used up.
    #[error("too many order writes")]
    TooManyWrites { retry_after: u64 },
    #[error(transparent)]
    Database(#[from] DbError),
    /// The task placing the order ended without an answer (it panicked).
    #[error("placing the order stopped before it answered")]
    Interrupted,
}

impl From<Refusal> for CommandError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::NotFound => Self::NotFound,
            Refusal::Transition(error) => Self::Transition(error),
            Refusal::NotDeletable(status) => Self::NotDeletable(status),
        }
    }
}

impl From<ChangeError> for CommandError {
    fn from(error: ChangeError) -> Self {
        match error {
            ChangeError::Refused(refusal) => refusal.into(),
            ChangeError::Database(error) => Self::Database(error),
        }
    }
}

/// Counts one order write of `actor`'s, or refuses it when their window is full. Called before
/// anything else the write does, so a refused write has no side effect.
async fn admit_write(state: &AppState, actor: &Actor) -> Result<(), CommandError> {
    match state.write_rate.admit(actor.user_id).await? {
        Admission::Admitted => Ok(()),
        Admission::Refused { retry_after } => {
            tracing::info!(user_id = actor.user_id, "order write refused: rate limit");
            Err(CommandError::TooManyWrites { retry_after })
        }
    }
}
