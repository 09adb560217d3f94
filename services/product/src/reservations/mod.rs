//! What happens to a reservation after it is made: the Order Service **confirms** it once the
//! order row is stored, and the **sweeper** returns to stock every reservation nobody confirmed
//! within `RESERVATION_TTL_SECS` (an order whose insert never happened: its Order Service was
//! killed, or gave up, between the two steps).
//!
//! Replicas sweep at the same time without coordination: the rows are claimed with
//! `FOR UPDATE SKIP LOCKED` and flipped from `reserved` to `expired` in the same statement, so
//! each reservation's stock goes back once. A confirmation that comes after the sweep (an order
//! that took longer than the TTL) takes the stock again if there is enough.

mod ledger;
mod sweeper;

pub use ledger::{ConfirmOutcome, ReservationLedger, Swept};
pub use sweeper::{SweepSchedule, Sweeper, run_sweeper, sweep_once};
