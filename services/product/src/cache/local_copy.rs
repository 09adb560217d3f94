//! This replica's own copy of recently read products, in front of Redis.
//!
//! A Redis round trip costs more than the rest of a cached `GET /products/{id}`, so each replica
//! keeps what it read for at most the *lease* δ (`PRODUCT_LOCAL_COPY_MS`). The promise of
//! [`super::entries`] (no read returns a value older than a write that has returned) holds
//! across replicas because a write, after its commit and its Redis tombstone, does not return
//! while another replica may still serve a copy read before the tombstone. It learns who might
//! from Redis and asks them to drop their copies ([`super::announce`]), and waits for their
//! answers, or for δ when one does not answer:
//! - a copy is stamped with the instant its read *began* (before the Redis read or the
//!   database read), and is served only while younger than δ; so δ after a tombstone landed,
//!   no copy read before it is served anywhere, answer or not;
//! - a replica that drops its copies of a product on an announcement also refuses to keep a
//!   copy whose read began before it dropped them ([`LocalCopies::forget`]): a read that was
//!   under way then may have read the old value, and must not bring it back afterwards.
//!
//! δ = 0 turns the copies off (and the announcements with them).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;

#[derive(Debug)]
pub struct LocalCopies {
    lease: Duration,
    capacity: usize,
    table: Mutex<Table>,
}

#[derive(Debug, Default)]
struct Table {
    copies: HashMap<i64, Copy>,
    /// When each product was last forgotten: a read that began earlier may not keep a copy.
    /// An entry older than the lease refuses nothing more (such a copy would be too old to
    /// serve), so entries are dropped once that old.
    forgotten_at: HashMap<i64, Instant>,
    /// When every product was last forgotten (see `forgotten_at`).
    all_forgotten_at: Option<Instant>,
    /// When a full table was last cleared of expired copies. Clearing scans every copy, so it
    /// happens at most once per lease: a stream of distinct ids (a crawler, a scan) cannot make
    /// every read pay for a scan under the lock.
    pruned_at: Option<Instant>,
    /// When `forgotten_at` was last cleared of old entries (also at most once per lease).
    forgotten_pruned_at: Option<Instant>,
}

#[derive(Debug)]
struct Copy {
    read_at: Instant,
    json: Bytes,
}

impl LocalCopies {
    pub fn new(lease: Duration, capacity: usize) -> Self {
        Self {
            lease,
            capacity,
            table: Mutex::default(),
        }
    }

    /// δ: the longest a copy is served after its read began; zero when copies are off.
    pub fn lease(&self) -> Duration {
        self.lease
    }

    pub fn enabled(&self) -> bool {
        !self.lease.is_zero()
    }

    /// The copy of product `id`, if one younger than the lease is here.
    pub fn get(&self, id: i64) -> Option<Bytes> {
        if !self.enabled() {
            return None;
        }
        let table = self.table.lock().expect("local copies lock");
        let copy = table.copies.get(&id)?;
        (copy.read_at.elapsed() < self.lease).then(|| copy.json.clone())
    }

    /// Keeps `json` as product `id`, read by a read that began at `read_at`, unless the product
    /// was forgotten since then (the read may have seen the value a write replaced).
    pub fn keep(&self, id: i64, read_at: Instant, json: Bytes) {
        if !self.enabled() || read_at.elapsed() >= self.lease {
            return;
        }
        let mut table = self.table.lock().expect("local copies lock");
        if table
            .forgotten_at
            .get(&id)
            .into_iter()
            .chain(&table.all_forgotten_at)
            .any(|forgotten| *forgotten >= read_at)
        {
            return;
        }
        if table.copies.len() >= self.capacity && !table.copies.contains_key(&id) {
            if table
                .pruned_at
                .is_some_and(|pruned| pruned.elapsed() < self.lease)
            {
                return;
            }
            // Expired copies are useless; if every copy is fresh, this one is not kept.
            table.pruned_at = Some(Instant::now());
            let lease = self.lease;
            table
                .copies
                .retain(|_, copy| copy.read_at.elapsed() < lease);
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

    /// After a committed write of product `id` whose tombstone is in Redis: drops this
    /// replica's copy, and refuses copies from reads that began before now.
    pub fn forget(&self, id: i64) {
        self.forget_all([id]);
    }

    /// Drops every copy (and refuses copies of reads begun before now).
    pub fn forget_everything(&self) {
        if !self.enabled() {
            return;
        }
        let mut table = self.table.lock().expect("local copies lock");
        table.copies.clear();
        table.all_forgotten_at = Some(Instant::now());
    }

    /// [`Self::forget`] for several products under one lock.
    pub fn forget_all(&self, ids: impl IntoIterator<Item = i64>) {
        if !self.enabled() {
            return;
        }
        let mut table = self.table.lock().expect("local copies lock");
        let now = Instant::now();
        for id in ids {
            table.copies.remove(&id);
            table.forgotten_at.insert(id, now);
        }
        if table
            .forgotten_pruned_at
            .is_none_or(|pruned| pruned.elapsed() >= self.lease)
        {
            table.forgotten_pruned_at = Some(now);
            let lease = self.lease;
            table
                .forgotten_at
                .retain(|_, forgotten| forgotten.elapsed() < lease);
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
    fn a_copy_is_served_only_within_the_lease() {
        let copies = LocalCopies::new(Duration::from_secs(60), 10);
        copies.keep(1, Instant::now(), json("{}"));
        assert_eq!(copies.get(1), Some(json("{}")));
        let long_ago = Instant::now() - Duration::from_secs(61);
        copies.keep(2, long_ago, json("{}"));
        assert_eq!(copies.get(2), None, "began longer ago than the lease");
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
    fn a_forgotten_product_keeps_no_copy_of_a_read_begun_before() {
        let copies = LocalCopies::new(Duration::from_secs(60), 10);
        let under_way = Instant::now();
        copies.keep(1, under_way, json("old"));
        copies.keep(2, under_way, json("other"));
        copies.forget(1);
        assert_eq!(copies.get(1), None, "dropped");
        assert_eq!(
            copies.get(2),
            Some(json("other")),
            "only what was forgotten"
        );
        copies.keep(1, under_way, json("old"));
        assert_eq!(copies.get(1), None, "the read began before the forgetting");
        copies.keep(1, Instant::now(), json("new"));
        assert_eq!(copies.get(1), Some(json("new")), "a read begun after it");

        let under_way = Instant::now();
        copies.forget_everything();
        assert_eq!(copies.get(1), None);
        copies.keep(3, under_way, json("old"));
        assert_eq!(copies.get(3), None, "began before everything was forgotten");
    }

    #[test]
    fn a_full_table_makes_room_only_from_expired_copies() {
        let copies = LocalCopies::new(Duration::from_secs(60), 2);
        copies.keep(1, Instant::now(), json("a"));
        copies.keep(2, Instant::now(), json("b"));
        // Expire copy 1 as if its read had begun long ago.
        copies
            .table
            .lock()
            .unwrap()
            .copies
            .get_mut(&1)
            .unwrap()
            .read_at = Instant::now() - Duration::from_secs(61);
        copies.keep(3, Instant::now(), json("c"));
        assert_eq!(copies.get(3), Some(json("c")), "the expired copy made room");
        copies.keep(4, Instant::now(), json("d"));
        assert_eq!(copies.get(4), None, "no room among fresh copies");
        assert_eq!(copies.get(2), Some(json("b")));
    }

    #[test]
    fn a_zero_lease_keeps_nothing() {
        let copies = LocalCopies::new(Duration::ZERO, 10);
        copies.keep(1, Instant::now(), json("{}"));
        assert_eq!(copies.get(1), None);
    }
}
