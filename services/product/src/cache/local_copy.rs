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
//! When a copy has expired, the requests that want it meanwhile wait for one read instead of
//! each reading Redis ([`LocalCopies::lookup`]): with 32 clients on one product, a replica
//! otherwise sent Redis one read per request in flight at each expiry, 2.7 % of its requests.
//! A request that waited is served the copy that read kept, under the same rules as any copy;
//! when the read kept none (it failed, or the product was forgotten meanwhile), it reads for
//! itself.
//!
//! δ = 0 turns the copies off (and the announcements with them).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::watch;

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
    /// The products being read now by a request that others wait for: each closes when its
    /// [`ReadLead`] is dropped, however the read ended.
    reading: HashMap<i64, watch::Receiver<()>>,
}

/// What a request for one product finds among the copies.
#[derive(Debug)]
pub enum Lookup<'a> {
    /// A copy younger than the lease.
    Copy(Bytes),
    /// Nothing here: this request reads the product, and keeps what it read if it may. Until
    /// the lead is dropped, other requests for the product wait for it.
    Lead(ReadLead<'a>),
    /// Another request is reading the product now: wait for it ([`ReadUnderWay::finished`]),
    /// then take the copy it kept, if any.
    Follow(ReadUnderWay),
}

/// This request's read of a product that others may be waiting for.
#[derive(Debug)]
pub struct ReadLead<'a> {
    /// `None` for a read nobody waits for (copies off).
    waited_on: Option<(&'a LocalCopies, i64, watch::Sender<()>)>,
}

impl ReadLead<'_> {
    /// A read that nobody waits for.
    pub fn alone() -> Self {
        Self { waited_on: None }
    }
}

impl Drop for ReadLead<'_> {
    /// Ends the wait of the requests that followed this read (dropping the sender wakes them).
    fn drop(&mut self) {
        if let Some((copies, id, _done)) = &self.waited_on {
            copies
                .table
                .lock()
                .expect("local copies lock")
                .reading
                .remove(id);
        }
    }
}

/// Another request's read of a product, under way.
#[derive(Debug)]
pub struct ReadUnderWay(watch::Receiver<()>);

impl ReadUnderWay {
    /// Returns once that read has ended (kept a copy, kept none, failed or been dropped).
    pub async fn finished(mut self) {
        // Nothing is ever sent: the only change is the lead dropping the sender.
        while self.0.changed().await.is_ok() {}
    }
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
        self.fresh_copy(&table, id)
    }

    /// The copy of `id` in `table` if it is younger than the lease.
    fn fresh_copy(&self, table: &Table, id: i64) -> Option<Bytes> {
        let copy = table.copies.get(&id)?;
        (copy.read_at.elapsed() < self.lease).then(|| copy.json.clone())
    }

    /// The copy of product `id`, or else who reads it: this request, or one under way that
    /// this request waits for.
    pub fn lookup(&self, id: i64) -> Lookup<'_> {
        if !self.enabled() {
            return Lookup::Lead(ReadLead::alone());
        }
        let mut table = self.table.lock().expect("local copies lock");
        if let Some(json) = self.fresh_copy(&table, id) {
            return Lookup::Copy(json);
        }
        if let Some(under_way) = table.reading.get(&id) {
            return Lookup::Follow(ReadUnderWay(under_way.clone()));
        }
        let (done, waiting) = watch::channel(());
        table.reading.insert(id, waiting);
        Lookup::Lead(ReadLead {
            waited_on: Some((self, id, done)),
        })
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
    fn requests_for_a_product_being_read_wait_for_that_read() {
        use futures_util::FutureExt as _;

        let copies = LocalCopies::new(Duration::from_secs(60), 10);
        let Lookup::Lead(lead) = copies.lookup(1) else {
            panic!("nothing to wait for: the first request reads");
        };
        let Lookup::Follow(first) = copies.lookup(1) else {
            panic!("a read is under way");
        };
        let Lookup::Follow(second) = copies.lookup(1) else {
            panic!("a read is under way");
        };
        assert!(
            matches!(copies.lookup(2), Lookup::Lead(_)),
            "another product is read on its own"
        );
        let mut first = Box::pin(first.finished());
        assert!(first.as_mut().now_or_never().is_none(), "the read goes on");
        copies.keep(1, Instant::now(), json("read"));
        drop(lead);
        assert!(first.now_or_never().is_some(), "the read ended");
        assert!(second.finished().now_or_never().is_some());
        assert!(
            matches!(copies.lookup(1), Lookup::Copy(json) if json == "read"),
            "the copy it kept is served"
        );
    }

    #[test]
    fn a_read_that_ended_without_a_copy_is_not_waited_for_again() {
        use futures_util::FutureExt as _;

        let copies = LocalCopies::new(Duration::from_secs(60), 10);
        let lead = copies.lookup(1);
        let Lookup::Follow(follower) = copies.lookup(1) else {
            panic!("a read is under way");
        };
        drop(lead);
        assert!(follower.finished().now_or_never().is_some());
        assert!(
            matches!(copies.lookup(1), Lookup::Lead(_)),
            "the next request reads"
        );
    }

    #[test]
    fn a_zero_lease_keeps_nothing() {
        let copies = LocalCopies::new(Duration::ZERO, 10);
        copies.keep(1, Instant::now(), json("{}"));
        assert_eq!(copies.get(1), None);
        let _reading = copies.lookup(1);
        assert!(
            matches!(copies.lookup(1), Lookup::Lead(_)),
            "with nothing kept, nobody waits for a read"
        );
    }
}
