//! The live-update streams this replica holds open: how many (per user and in all, each
//! capped so a script cannot hold every connection), and which session each belongs to, so a
//! logout closes them. A stream holds a [`StreamSlot`]; dropping it, however the stream ends,
//! frees the slot.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio_util::sync::CancellationToken;

/// Why a stream was not opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// This user already holds as many streams as one user may.
    UserFull,
    /// This replica serves as many streams as it may.
    ReplicaFull,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    per_user: HashMap<i64, usize>,
    /// Session id → (stream number → what ends that stream).
    by_session: HashMap<String, HashMap<u64, CancellationToken>>,
    next: u64,
}

#[derive(Debug)]
pub struct Streams {
    max_per_user: usize,
    max_total: usize,
    open: Mutex<Open>,
}

impl Streams {
    pub fn new(max_per_user: usize, max_total: usize) -> Arc<Self> {
        Arc::new(Self {
            max_per_user,
            max_total,
            open: Mutex::new(Open::default()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Open> {
        // The counts stay consistent even if a holder panicked: every change is one step.
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes a slot for a stream of `user_id` in `session`, or says why not.
    pub fn open(self: &Arc<Self>, user_id: i64, session: &str) -> Result<StreamSlot, Refusal> {
        let mut open = self.lock();
        if open.total >= self.max_total {
            return Err(Refusal::ReplicaFull);
        }
        let mine = open.per_user.entry(user_id).or_default();
        if *mine >= self.max_per_user {
            return Err(Refusal::UserFull);
        }
        *mine += 1;
        open.total += 1;
        open.next += 1;
        let number = open.next;
        let ended = CancellationToken::new();
        open.by_session
            .entry(session.to_owned())
            .or_default()
            .insert(number, ended.clone());
        Ok(StreamSlot {
            streams: self.clone(),
            user_id,
            session: session.to_owned(),
            number,
            ended,
        })
    }

    /// Ends every stream of `session` on this replica.
    pub fn close_session(&self, session: &str) {
        let streams = self.lock().by_session.remove(session);
        for ended in streams.into_iter().flat_map(HashMap::into_values) {
            ended.cancel();
        }
    }

    /// Open streams on this replica.
    pub fn count(&self) -> usize {
        self.lock().total
    }

    fn release(&self, slot: &StreamSlot) {
        let mut open = self.lock();
        open.total -= 1;
        if let Some(count) = open.per_user.get_mut(&slot.user_id) {
            *count -= 1;
            if *count == 0 {
                open.per_user.remove(&slot.user_id);
            }
        }
        if let Some(streams) = open.by_session.get_mut(&slot.session) {
            streams.remove(&slot.number);
            if streams.is_empty() {
                open.by_session.remove(&slot.session);
            }
        }
    }
}

/// One open stream's place; freed when dropped.
#[derive(Debug)]
pub struct StreamSlot {
    streams: Arc<Streams>,
    user_id: i64,
    session: String,
    number: u64,
    /// Fires when the stream's session ends.
    pub ended: CancellationToken,
}

impl StreamSlot {
    pub fn session(&self) -> &str {
        &self.session
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.streams.release(self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_hold_and_dropped_slots_are_freed() {
        let streams = Streams::new(2, 3);
        let first = streams.open(1, "a").unwrap();
        let _second = streams.open(1, "a").unwrap();
        assert_eq!(streams.open(1, "b").unwrap_err(), Refusal::UserFull);
        let _other = streams.open(2, "c").unwrap();
        assert_eq!(streams.open(3, "d").unwrap_err(), Refusal::ReplicaFull);
        drop(first);
        assert_eq!(streams.count(), 2);
        let _again = streams.open(1, "b").unwrap();
    }

    #[test]
    fn closing_a_session_ends_only_its_streams() {
        let streams = Streams::new(8, 8);
        let one = streams.open(1, "a").unwrap();
        let two = streams.open(1, "a").unwrap();
        let other = streams.open(1, "b").unwrap();
        streams.close_session("a");
        assert!(one.ended.is_cancelled() && two.ended.is_cancelled());
        assert!(!other.ended.is_cancelled());
        // The slots stay taken until their streams actually end.
        assert_eq!(streams.count(), 3);
        drop((one, two));
        assert_eq!(streams.count(), 1);
    }
}
