//! This replica's own copy of recently read products, in front of Redis.
//!
//! A Redis round trip costs more than the rest of a cached `GET /products/{id}`, so each replica
//! keeps what it read for at most the *window* δ (`PRODUCT_LOCAL_COPY_MS`), without asking any
//! other replica. The promise of [`super::entries`] (no read returns a value older than a write
//! that has returned) holds because every write, after its commit and its Redis tombstone,
//! waits δ before it returns ([`LocalCopies::wait_out`]):
//! - a copy is stamped with the instant its read *began* (the Redis GET or the database read);
//! - it is served only while younger than δ, so a copy served after the write returned began
//!   less than δ before that, hence after the tombstone was in place: it is the new value or a
//!   later one.
//!
//! Writes are rare and may take δ longer; reads, the hot path, skip Redis. δ = 0 turns the copy
//! off (and the wait with it).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;

#[derive(Debug)]
pub struct LocalCopies {
    window: Duration,
    capacity: usize,
    table: Mutex<Table>,
}

#[derive(Debug, Default)]
struct Table {
    copies: HashMap<i64, Copy>,
    /// When a full table was last cleared of expired copies. Clearing scans every copy, so it
    /// happens at most once per window: a stream of distinct ids (a crawler, a scan) cannot make
    /// every read pay for a scan under the lock.
    pruned_at: Option<Instant>,
}

#[derive(Debug)]
struct Copy {
    read_at: Instant,
    json: Bytes,
}

impl LocalCopies {
    pub fn new(window: Duration, capacity: usize) -> Self {
        Self {
            window,
            capacity,
            table: Mutex::default(),
        }
    }

    /// The copy of product `id`, if one younger than the window is here.
    pub fn get(&self, id: i64) -> Option<Bytes> {
        if self.window.is_zero() {
            return None;
        }
        let table = self.table.lock().expect("local copies lock");
        let copy = table.copies.get(&id)?;
        (copy.read_at.elapsed() < self.window).then(|| copy.json.clone())
    }

    /// Keeps `json` as product `id`, read by a read that began at `read_at`.
    pub fn keep(&self, id: i64, read_at: Instant, json: Bytes) {
        if self.window.is_zero() {
            return;
        }
        let mut table = self.table.lock().expect("local copies lock");
        if table.copies.len() >= self.capacity && !table.copies.contains_key(&id) {
            if table
                .pruned_at
                .is_some_and(|pruned| pruned.elapsed() < self.window)
            {
                return;
            }
            // Expired copies are useless; if every copy is fresh, this one is not kept.
            table.pruned_at = Some(Instant::now());
            table
                .copies
                .retain(|_, copy| copy.read_at.elapsed() < self.window);
            if table.copies.len() >= self.capacity {
                return;
            }
        }
        let copies = &mut table.copies;
        match copies.get_mut(&id) {
            // A slower read that began earlier must not replace a later one.
            Some(existing) if existing.read_at > read_at => {}
            Some(existing) => *existing = Copy { read_at, json },
            None => {
                copies.insert(id, Copy { read_at, json });
            }
        }
    }

    /// After committed writes of products `ids`, once their tombstones are in Redis: drops this
    /// replica's copies and waits, once for all of them, until every other replica's copy read
    /// before the tombstones is too old to be served.
    pub async fn wait_out(&self, ids: impl IntoIterator<Item = i64>) {
        if self.window.is_zero() {
            return;
        }
        let mut forgotten = false;
        {
            let mut table = self.table.lock().expect("local copies lock");
            for id in ids {
                table.copies.remove(&id);
                forgotten = true;
            }
        }
        if forgotten {
            tokio::time::sleep(self.window).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(text: &'static str) -> Bytes {
        Bytes::from_static(text.as_bytes())
    }

    #[test]
    fn a_copy_is_served_only_within_the_window() {
        let copies = LocalCopies::new(Duration::from_secs(60), 10);
        copies.keep(1, Instant::now(), json("{}"));
        assert_eq!(copies.get(1), Some(json("{}")));
        let long_ago = Instant::now() - Duration::from_secs(61);
        copies.keep(2, long_ago, json("{}"));
        assert_eq!(copies.get(2), None, "began longer ago than the window");
    }

    #[test]
    fn an_earlier_read_never_replaces_a_later_one() {
        let copies = LocalCopies::new(Duration::from_secs(60), 10);
        let earlier = Instant::now();
        let later = earlier + Duration::from_millis(1);
        copies.keep(1, later, json("new"));
        copies.keep(1, earlier, json("old"));
        assert_eq!(copies.get(1), Some(json("new")));
    }

    #[test]
    fn a_full_table_makes_room_only_from_expired_copies() {
        let copies = LocalCopies::new(Duration::from_secs(60), 2);
        let long_ago = Instant::now() - Duration::from_secs(61);
        copies.keep(1, long_ago, json("a"));
        copies.keep(2, Instant::now(), json("b"));
        copies.keep(3, Instant::now(), json("c"));
        assert_eq!(copies.get(3), Some(json("c")), "the expired copy made room");
        copies.keep(4, Instant::now(), json("d"));
        assert_eq!(copies.get(4), None, "no room among fresh copies");
        assert_eq!(copies.get(2), Some(json("b")));
    }

    #[test]
    fn a_zero_window_keeps_nothing() {
        let copies = LocalCopies::new(Duration::ZERO, 10);
        copies.keep(1, Instant::now(), json("{}"));
        assert_eq!(copies.get(1), None);
    }
}
