//! The checker of a chaos run: reads a [`History`] and counts every broken promise (safety)
//! and how available the system stayed in each fault window (availability).
//!
//! Pure: no clock, no I/O, so every count is tested on small hand-built histories.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;

use serde::Serialize;

use crate::history::{EventRecord, History, Operation, RequestRecord};

/// How many examples each finding keeps: enough to start digging, few enough for one line.
pub const MAX_EXAMPLES: usize = 5;

/// A 503 answered within this many milliseconds is an honest "not now": the client can retry
/// elsewhere at once. A slower 503 kept the client waiting and counts as failed. The bound is
/// the Order Service's wait for the Product Service (`PRODUCT_TIMEOUT_MS`, 2 s), the longest a
/// service waits for a dependency before it answers 503, plus half a second of its own work.
pub const FAST_503_MS: u64 = 2500;

/// 4xx answers to a placement or a cancellation that are the correct business answer, so they
/// count as available: 409 is not enough stock, a request with the same Idempotency-Key still
/// in progress, too many pending orders or a status change no longer allowed (the order
/// shipped); 422 is the Product Service refusing the order or a reused Idempotency-Key.
/// Any other 4xx means the workload or the system is broken, and counts as failed.
pub const ACCEPTED_BUSINESS_STATUSES: [u16; 2] = [409, 422];

/// One kind of finding: how many times it happened and the first few examples.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tally<T> {
    pub count: u64,
    /// At most [`MAX_EXAMPLES`], in the order they were found.
    pub examples: Vec<T>,
}

impl<T> Default for Tally<T> {
    fn default() -> Self {
        Self {
            count: 0,
            examples: Vec::new(),
        }
    }
}

impl<T> Tally<T> {
    fn note(&mut self, example: T) {
        self.count += 1;
        if self.examples.len() < MAX_EXAMPLES {
            self.examples.push(example);
        }
    }
}

impl<T: fmt::Display> Tally<T> {
    /// The examples as text, for summaries and reports.
    pub fn example_texts(&self) -> Vec<String> {
        self.examples.iter().map(ToString::to_string).collect()
    }
}

/// An Idempotency-Key or an order that shows a placement escaped deduplication.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DoubledOrder {
    /// A key whose answers, or whose stored row, named more than one order.
    Key {
        user: String,
        key: String,
        /// Every order id the answers and the key's row named, ascending.
        order_ids: Vec<i64>,
    },
    /// A workload user's order that no Idempotency-Key row points to.
    Unkeyed { order_id: i64, user: String },
}

impl fmt::Display for DoubledOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Key {
                user,
                key,
                order_ids,
            } => {
                write!(f, "key {user}/{key} → orders {order_ids:?}")
            }
            Self::Unkeyed { order_id, user } => write!(f, "order {order_id} of {user} has no key"),
        }
    }
}

/// A product whose stock does not add up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StockMismatch {
    pub product_id: i64,
    /// The stock the product was created with.
    pub expected: i64,
    /// What the final state adds up to.
    pub actual: i64,
}

impl fmt::Display for StockMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            product_id,
            expected,
            actual,
        } = self;
        write!(f, "product {product_id}: expected {expected}, got {actual}")
    }
}

/// A product that sold more than it had.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Oversold {
    pub product_id: i64,
    pub initial_stock: i64,
    pub remaining: i64,
    /// Units held by live orders.
    pub live_quantity: i64,
}

impl fmt::Display for Oversold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            product_id,
            initial_stock,
            remaining,
            live_quantity,
        } = self;
        write!(
            f,
            "product {product_id}: stock {initial_stock}, remaining {remaining}, in live orders {live_quantity}"
        )
    }
}

/// A read that answered older data than a write (or a placement) that had already returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StaleRead {
    /// A product read showed a lower price than a returned update.
    Price {
        product_id: i64,
        read_start_ms: u64,
        seen_price_cents: i64,
        expected_at_least_cents: i64,
    },
    /// An order read after a returned cancellation showed another status.
    OrderStatus {
        order_id: i64,
        read_start_ms: u64,
        seen_status: String,
        cancelled_at_ms: u64,
    },
    /// An order read after its placement returned answered 404.
    OrderMissing {
        order_id: i64,
        read_start_ms: u64,
        placed_at_ms: u64,
    },
}

impl fmt::Display for StaleRead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Price {
                product_id,
                read_start_ms,
                seen_price_cents,
                expected_at_least_cents,
            } => {
                write!(
                    f,
                    "product {product_id} read at {read_start_ms} ms: price {seen_price_cents}, expected at least {expected_at_least_cents}"
                )
            }
            Self::OrderStatus {
                order_id,
                read_start_ms,
                seen_status,
                cancelled_at_ms,
            } => write!(
                f,
                "order {order_id} read at {read_start_ms} ms: {seen_status}, cancelled at {cancelled_at_ms} ms"
            ),
            Self::OrderMissing {
                order_id,
                read_start_ms,
                placed_at_ms,
            } => write!(
                f,
                "order {order_id} read at {read_start_ms} ms: 404, placed at {placed_at_ms} ms"
            ),
        }
    }
}

/// How the requests started in one stretch of the run fared.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Availability {
    /// The fault's name, `no fault` or `whole run`.
    pub label: String,
    /// The fault's kind, `none` (no fault) or `all` (whole run).
    pub kind: String,
    /// The stretch; the run's bounds for `no fault` and `whole run`.
    pub start_ms: u64,
    pub end_ms: u64,
    pub total: u64,
    /// 2xx, or one of [`ACCEPTED_BUSINESS_STATUSES`] to a placement or cancellation.
    pub ok: u64,
    /// 503 within [`FAST_503_MS`].
    pub fast_unavailable: u64,
    /// Everything else, no answer included.
    pub failed: u64,
    /// `(ok + fast_unavailable) / total`; `None` when no request started in the stretch.
    pub share: Option<f64>,
    /// Nearest-rank latency percentiles of every request (a no-answer's latency is how long the
    /// client waited); `None` when no request started in the stretch.
    pub p50_ms: Option<u64>,
    pub p99_ms: Option<u64>,
}

/// The requests started in one second of the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Second {
    /// Seconds since the workload started.
    pub second: u64,
    /// Counted as in [`Availability::ok`].
    pub ok: u64,
    /// Everything else, fast 503s included: the plot shows errors the clients saw.
    pub failed: u64,
}

/// What the checker found in a history.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Findings {
    /// Orders a placement answered 2xx for that are not in the final state.
    pub lost_orders: Tally<i64>,
    /// Keys or orders that show one intended placement made more than one order.
    pub doubled_orders: Tally<DoubledOrder>,
    /// Products where `initial_stock != remaining + units in live orders`.
    pub stock_not_conserved: Tally<StockMismatch>,
    /// Products where `initial_stock != remaining + reserved`.
    pub reservations_not_conserved: Tally<StockMismatch>,
    /// Products with negative stock, or more units in live orders than they ever had.
    pub oversold: Tally<Oversold>,
    /// Orders (deleted or not) without an `order.created` in the stream.
    pub stream_lost_created: Tally<i64>,
    /// Cancelled orders without an `order.status_changed` to `cancelled` in the stream.
    pub stream_lost_cancelled: Tally<i64>,
    /// Event ids stored more than once in the stream (each id counted once).
    pub stream_duplicated: Tally<String>,
    /// Orders whose stream events are out of causal order.
    pub stream_out_of_order: Tally<i64>,
    /// Order ids named by stream events but absent from the final state (each id counted once).
    pub stream_unknown_orders: Tally<i64>,
    /// Orders (deleted or not) without an `order.created` on the run's broker queue.
    pub broker_lost_created: Tally<i64>,
    /// Event ids the broker queue received more than once (each id counted once). Not a
    /// violation: RabbitMQ delivers at least once and consumers deduplicate on the event id.
    pub broker_redelivered: Tally<String>,
    /// `order.created` events in the stream (by event id) that no notification was sent for.
    pub notifications_missing: Tally<String>,
    /// Event ids notified more than once (each id counted once). Not a violation: a redelivery
    /// carries the same `Idempotency-Key` (the event id), so the receiver drops it; counted to
    /// show how often the notification service had to retry.
    pub notifications_redelivered: Tally<String>,
    /// Notified event ids that are no `order.created` in the stream (each id counted once): a
    /// notification about something that never happened.
    pub notifications_unknown: Tally<String>,
    /// Reads that answered older data than a write that had returned before they started.
    pub stale_reads: Tally<StaleRead>,
    /// One row per fault window, then `no fault`, then `whole run`.
    pub availability: Vec<Availability>,
    /// Every second of the run, from 0, for the plot.
    pub timeline: Vec<Second>,
}

/// One count of [`Findings`] as the summary and the report show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountLine {
    /// What is counted, in an operator's words.
    pub label: &'static str,
    pub count: u64,
    pub examples: Vec<String>,
    /// Whether a non-zero count is a broken promise (rather than a retry the design allows).
    pub is_safety: bool,
}

impl Findings {
    /// Every count (availability aside), in a fixed order.
    pub fn count_lines(&self) -> Vec<CountLine> {
        fn line<T: fmt::Display>(
            label: &'static str,
            tally: &Tally<T>,
            is_safety: bool,
        ) -> CountLine {
            CountLine {
                label,
                count: tally.count,
                examples: tally.example_texts(),
                is_safety,
            }
        }
        vec![
            line("accepted orders lost", &self.lost_orders, true),
            line("orders placed twice", &self.doubled_orders, true),
            line(
                "products whose stock does not match live orders",
                &self.stock_not_conserved,
                true,
            ),
            line(
                "products whose stock does not match reservations",
                &self.reservations_not_conserved,
                true,
            ),
            line("products oversold", &self.oversold, true),
            line(
                "orders without order.created in the stream",
                &self.stream_lost_created,
                true,
            ),
            line(
                "cancelled orders without their cancellation in the stream",
                &self.stream_lost_cancelled,
                true,
            ),
            line(
                "events stored twice in the stream",
                &self.stream_duplicated,
                true,
            ),
            line(
                "orders with stream events out of order",
                &self.stream_out_of_order,
                true,
            ),
            line(
                "unknown orders named in the stream",
                &self.stream_unknown_orders,
                true,
            ),
            line(
                "orders without order.created on the broker",
                &self.broker_lost_created,
                true,
            ),
            line(
                "events redelivered by the broker (allowed)",
                &self.broker_redelivered,
                false,
            ),
            line(
                "order.created events never notified",
                &self.notifications_missing,
                true,
            ),
            line(
                "notifications redelivered (allowed, dropped by Idempotency-Key)",
                &self.notifications_redelivered,
                false,
            ),
            line(
                "notifications about unknown events",
                &self.notifications_unknown,
                true,
            ),
            line("stale reads", &self.stale_reads, true),
        ]
    }

    /// The sum of every safety count: 0 when the run kept every promise.
    pub fn safety_violations(&self) -> u64 {
        self.count_lines()
            .iter()
            .filter(|line| line.is_safety)
            .map(|line| line.count)
            .sum()
    }

    /// One line per count, e.g. `accepted orders lost: 0`, with examples when there are some.
    pub fn summary_lines(&self) -> Vec<String> {
        self.count_lines()
            .into_iter()
            .map(|line| {
                if line.examples.is_empty() {
                    format!("{}: {}", line.label, line.count)
                } else {
                    format!(
                        "{}: {} (e.g. {})",
                        line.label,
                        line.count,
                        line.examples.join("; ")
                    )
                }
            })
            .collect()
    }
}

/// Checks every promise against a history.
pub fn check(history: &History) -> Findings {
    let mut findings = Findings::default();
    check_orders(history, &mut findings);
    check_stock(history, &mut findings);
    check_stream(history, &mut findings);
    check_broker(history, &mut findings);
    check_notifications(history, &mut findings);
    check_stale_reads(history, &mut findings);
    findings.availability = availability(history);
    findings.timeline = timeline(history);
    findings
}

/// The ids of every order in the final state, deleted ones included (deletion is a flag).
fn final_order_ids(history: &History) -> HashSet<i64> {
    history
        .final_state
        .orders
        .iter()
        .map(|order| order.id)
        .collect()
}

/// Successful placements: `(user, key, order id, request)`.
fn placements(history: &History) -> impl Iterator<Item = (&str, &str, i64, &RequestRecord)> {
    history
        .requests
        .iter()
        .filter_map(|request| match (&request.operation, request.order_id) {
            (Operation::PlaceOrder { key, user, .. }, Some(order_id))
                if request.outcome.is_success() =>
            {
                Some((user.as_str(), key.as_str(), order_id, request))
            }
            _ => None,
        })
}

fn check_orders(history: &History, findings: &mut Findings) {
    let final_ids = final_order_ids(history);
    let mut lost = BTreeSet::new();
    // BTreeMap: examples come out in a stable order, whatever the hashing.
    let mut answered_by_key: BTreeMap<(&str, &str), BTreeSet<i64>> = BTreeMap::new();
    for (user, key, order_id, _) in placements(history) {
        if !final_ids.contains(&order_id) {
            lost.insert(order_id);
        }
        answered_by_key
            .entry((user, key))
            .or_default()
            .insert(order_id);
    }
    for order_id in lost {
        findings.lost_orders.note(order_id);
    }

    let stored_by_key: HashMap<(&str, &str), i64> = history
        .final_state
        .idempotency_keys
        .iter()
        .filter_map(|(user, key, order_id)| Some(((user.as_str(), key.as_str()), (*order_id)?)))
        .collect();
    // Orders a doubled key already names: not counted a second time as unkeyed.
    let mut named_by_doubled_keys = HashSet::new();
    for ((user, key), answered) in &answered_by_key {
        let mut named = answered.clone();
        if let Some(stored) = stored_by_key.get(&(*user, *key)) {
            named.insert(*stored);
        }
        // One key, one order: two answers naming different orders, or an answer naming
        // another order than the key's row, both mean the key did not deduplicate.
        if named.len() > 1 {
            named_by_doubled_keys.extend(named.iter().copied());
            findings.doubled_orders.note(DoubledOrder::Key {
                user: (*user).to_owned(),
                key: (*key).to_owned(),
                order_ids: named.into_iter().collect(),
            });
        }
    }

    // Every workload placement carries a key, so a workload user's order that no key row points
    // to was made by a placement that escaped deduplication (a retry that did not find its
    // key). Orders of other users (seed data) are not the workload's to judge.
    let workload_users: HashSet<&str> = history
        .requests
        .iter()
        .filter_map(|request| match &request.operation {
            Operation::PlaceOrder { user, .. } => Some(user.as_str()),
            _ => None,
        })
        .collect();
    let keyed_orders: HashSet<i64> = stored_by_key.values().copied().collect();
    for order in &history.final_state.orders {
        if workload_users.contains(order.user.as_str())
            && !keyed_orders.contains(&order.id)
            && !named_by_doubled_keys.contains(&order.id)
        {
            findings.doubled_orders.note(DoubledOrder::Unkeyed {
                order_id: order.id,
                user: order.user.clone(),
            });
        }
    }
}

fn check_stock(history: &History, findings: &mut Findings) {
    let mut live_quantity: HashMap<i64, i64> = HashMap::new();
    for order in history
        .final_state
        .orders
        .iter()
        .filter(|order| order.is_live())
    {
        *live_quantity.entry(order.product_id).or_default() += order.quantity;
    }
    for product in &history.final_state.products {
        let live = live_quantity.get(&product.id).copied().unwrap_or(0);
        // Two views of the same promise: the orders' view (what customers hold) and the
        // Product Service's own ledger (reservations). A mismatch in only one of them says
        // which side lost track.
        let by_orders = product.remaining + live;
        if by_orders != product.initial_stock {
            findings.stock_not_conserved.note(StockMismatch {
                product_id: product.id,
                expected: product.initial_stock,
                actual: by_orders,
            });
        }
        let by_reservations = product.remaining + product.reserved;
        if by_reservations != product.initial_stock {
            findings.reservations_not_conserved.note(StockMismatch {
                product_id: product.id,
                expected: product.initial_stock,
                actual: by_reservations,
            });
        }
        if product.remaining < 0 || live > product.initial_stock {
            findings.oversold.note(Oversold {
                product_id: product.id,
                initial_stock: product.initial_stock,
                remaining: product.remaining,
                live_quantity: live,
            });
        }
    }
}

/// Event ids seen more than once, each once, in order of their second sighting.
fn repeated_event_ids(events: &[&EventRecord]) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut reported = HashSet::new();
    let mut repeated = Vec::new();
    for event in events {
        if !seen.insert(event.event_id.as_str()) && reported.insert(event.event_id.as_str()) {
            repeated.push(event.event_id.clone());
        }
    }
    repeated
}

/// Final-state orders with no `order.created` among `events`, ascending.
fn orders_without_created(history: &History, events: &[&EventRecord]) -> Vec<i64> {
    let created: HashSet<i64> = events
        .iter()
        .filter(|event| event.event_type == "order.created")
        .map(|event| event.order_id)
        .collect();
    let mut missing: Vec<i64> = history
        .final_state
        .orders
        .iter()
        .map(|order| order.id)
        .filter(|id| !created.contains(id))
        .collect();
    missing.sort_unstable();
    missing.dedup();
    missing
}

/// Events sorted by their sequence; stable, so equal sequences keep the recorded order.
fn by_sequence(events: &[EventRecord]) -> Vec<&EventRecord> {
    let mut sorted: Vec<&EventRecord> = events.iter().collect();
    sorted.sort_by_key(|event| event.sequence);
    sorted
}

fn check_stream(history: &History, findings: &mut Findings) {
    let events = by_sequence(&history.stream_events);

    for order_id in orders_without_created(history, &events) {
        findings.stream_lost_created.note(order_id);
    }

    let cancelled_in_stream: HashSet<i64> = events
        .iter()
        .filter(|event| event.event_type == "order.status_changed" && event.status == "cancelled")
        .map(|event| event.order_id)
        .collect();
    let mut cancelled_orders: Vec<i64> = history
        .final_state
        .orders
        .iter()
        .filter(|order| order.status == "cancelled" && !cancelled_in_stream.contains(&order.id))
        .map(|order| order.id)
        .collect();
    cancelled_orders.sort_unstable();
    for order_id in cancelled_orders {
        findings.stream_lost_cancelled.note(order_id);
    }

    for event_id in repeated_event_ids(&events) {
        findings.stream_duplicated.note(event_id);
    }

    // Causal order per order: `order.created` before anything else, nothing after
    // `order.deleted`. A repeated event id is judged once, as a duplicate, not again here;
    // an order with no `order.created` at all is lost, not out of order.
    #[derive(Default)]
    struct Seen {
        other_before_created: bool,
        created: bool,
        deleted: bool,
        out_of_order: bool,
    }
    let mut seen_ids = HashSet::new();
    let mut by_order: BTreeMap<i64, Seen> = BTreeMap::new();
    for event in &events {
        if !seen_ids.insert(event.event_id.as_str()) {
            continue;
        }
        let seen = by_order.entry(event.order_id).or_default();
        if seen.deleted {
            seen.out_of_order = true;
        }
        match event.event_type.as_str() {
            "order.created" => {
                if seen.other_before_created {
                    seen.out_of_order = true;
                }
                seen.created = true;
            }
            other => {
                if !seen.created {
                    seen.other_before_created = true;
                }
                if other == "order.deleted" {
                    seen.deleted = true;
                }
            }
        }
    }
    for (order_id, seen) in &by_order {
        if seen.out_of_order {
            findings.stream_out_of_order.note(*order_id);
        }
    }

    let final_ids = final_order_ids(history);
    for order_id in by_order.keys().filter(|id| !final_ids.contains(id)) {
        findings.stream_unknown_orders.note(*order_id);
    }
}

fn check_broker(history: &History, findings: &mut Findings) {
    let events = by_sequence(&history.broker_events);
    for order_id in orders_without_created(history, &events) {
        findings.broker_lost_created.note(order_id);
    }
    for event_id in repeated_event_ids(&events) {
        findings.broker_redelivered.note(event_id);
    }
}

/// The notification service notifies once per `order.created`, and the stream, which stores
/// each event once, is the reference of which `order.created` events exist. Deliveries repeat
/// by design (at-least-once, with the event id as `Idempotency-Key` so the receiver drops the
/// repeat), so a repeat is only counted; a missing notification, or one for an event id that
/// is no `order.created`, is a broken promise.
fn check_notifications(history: &History, findings: &mut Findings) {
    let mut created_ids: Vec<&str> = Vec::new();
    for event in by_sequence(&history.stream_events) {
        if event.event_type == "order.created" && !created_ids.contains(&event.event_id.as_str()) {
            created_ids.push(event.event_id.as_str());
        }
    }
    let mut deliveries: BTreeMap<&str, u64> = BTreeMap::new();
    for notification in &history.notifications {
        *deliveries
            .entry(notification.event_id.as_str())
            .or_default() += 1;
    }
    for event_id in &created_ids {
        if !deliveries.contains_key(event_id) {
            findings.notifications_missing.note((*event_id).to_owned());
        }
    }
    let created: HashSet<&str> = created_ids.iter().copied().collect();
    for (event_id, count) in &deliveries {
        if *count > 1 {
            findings
                .notifications_redelivered
                .note((*event_id).to_owned());
        }
        if !created.contains(event_id) {
            findings.notifications_unknown.note((*event_id).to_owned());
        }
    }
}

fn check_stale_reads(history: &History, findings: &mut Findings) {
    // Returned writes per product: (end_ms, price). Prices of a product only grow, so a read
    // that started after a write returned must show at least that write's price.
    let mut price_writes: HashMap<i64, Vec<(u64, i64)>> = HashMap::new();
    // Returned cancellations per order: the earliest end.
    let mut cancelled_at: HashMap<i64, u64> = HashMap::new();
    // Returned placements per order: the earliest end.
    let mut placed_at: HashMap<i64, u64> = HashMap::new();
    for request in history
        .requests
        .iter()
        .filter(|request| request.outcome.is_success())
    {
        match &request.operation {
            Operation::UpdatePrice {
                product_id,
                price_cents,
            } => {
                price_writes
                    .entry(*product_id)
                    .or_default()
                    .push((request.end_ms, *price_cents));
            }
            Operation::CancelOrder { order_id } => {
                let at = cancelled_at.entry(*order_id).or_insert(request.end_ms);
                *at = (*at).min(request.end_ms);
            }
            Operation::PlaceOrder { .. } => {
                if let Some(order_id) = request.order_id {
                    let at = placed_at.entry(order_id).or_insert(request.end_ms);
                    *at = (*at).min(request.end_ms);
                }
            }
            Operation::ReadOrder { .. } | Operation::ReadProduct { .. } => {}
        }
    }
    // A deleted order answers 404 rightly, and the history does not say when it was deleted.
    let deleted: HashSet<i64> = history
        .final_state
        .orders
        .iter()
        .filter(|order| order.deleted)
        .map(|order| order.id)
        .collect();

    for request in &history.requests {
        match &request.operation {
            Operation::ReadProduct { product_id } if request.outcome.is_success() => {
                let Some(seen) = request.price_cents else {
                    continue;
                };
                let expected = price_writes
                    .get(product_id)
                    .into_iter()
                    .flatten()
                    .filter(|(end_ms, _)| *end_ms < request.start_ms)
                    .map(|(_, price)| *price)
                    .max();
                if let Some(expected) = expected.filter(|expected| seen < *expected) {
                    findings.stale_reads.note(StaleRead::Price {
                        product_id: *product_id,
                        read_start_ms: request.start_ms,
                        seen_price_cents: seen,
                        expected_at_least_cents: expected,
                    });
                }
            }
            Operation::ReadOrder { order_id } => {
                if request.outcome.is_success() {
                    let (Some(status), Some(cancelled)) =
                        (&request.order_status, cancelled_at.get(order_id))
                    else {
                        continue;
                    };
                    if *cancelled < request.start_ms && status != "cancelled" {
                        findings.stale_reads.note(StaleRead::OrderStatus {
                            order_id: *order_id,
                            read_start_ms: request.start_ms,
                            seen_status: status.clone(),
                            cancelled_at_ms: *cancelled,
                        });
                    }
                } else if request.outcome.status() == Some(404)
                    && !deleted.contains(order_id)
                    && let Some(placed) =
                        placed_at.get(order_id).filter(|at| **at < request.start_ms)
                {
                    findings.stale_reads.note(StaleRead::OrderMissing {
                        order_id: *order_id,
                        read_start_ms: request.start_ms,
                        placed_at_ms: *placed,
                    });
                }
            }
            _ => {}
        }
    }
}

/// How a request counts for availability.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Ok,
    FastUnavailable,
    Failed,
}

fn verdict(request: &RequestRecord) -> Verdict {
    let Some(status) = request.outcome.status() else {
        return Verdict::Failed;
    };
    let is_business_answer = matches!(
        request.operation,
        Operation::PlaceOrder { .. } | Operation::CancelOrder { .. }
    ) && ACCEPTED_BUSINESS_STATUSES.contains(&status);
    if (200..300).contains(&status) || is_business_answer {
        Verdict::Ok
    } else if status == 503 && request.latency_ms() <= FAST_503_MS {
        Verdict::FastUnavailable
    } else {
        Verdict::Failed
    }
}

/// Nearest-rank percentile of sorted values: the smallest value with at least `percent` of
/// the values at or below it.
fn nearest_rank(sorted: &[u64], percent: u64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (percent * sorted.len() as u64).div_ceil(100).max(1);
    sorted.get(rank as usize - 1).copied()
}

fn availability_of<'a>(
    label: &str,
    kind: &str,
    (start_ms, end_ms): (u64, u64),
    requests: impl Iterator<Item = &'a RequestRecord>,
) -> Availability {
    let mut row = Availability {
        label: label.to_owned(),
        kind: kind.to_owned(),
        start_ms,
        end_ms,
        total: 0,
        ok: 0,
        fast_unavailable: 0,
        failed: 0,
        share: None,
        p50_ms: None,
        p99_ms: None,
    };
    let mut latencies = Vec::new();
    for request in requests {
        row.total += 1;
        match verdict(request) {
            Verdict::Ok => row.ok += 1,
            Verdict::FastUnavailable => row.fast_unavailable += 1,
            Verdict::Failed => row.failed += 1,
        }
        latencies.push(request.latency_ms());
    }
    latencies.sort_unstable();
    if row.total > 0 {
        row.share = Some((row.ok + row.fast_unavailable) as f64 / row.total as f64);
    }
    row.p50_ms = nearest_rank(&latencies, 50);
    row.p99_ms = nearest_rank(&latencies, 99);
    row
}

/// Whether `at_ms` lies in `[start_ms, end_ms)`.
fn within(at_ms: u64, start_ms: u64, end_ms: u64) -> bool {
    (start_ms..end_ms).contains(&at_ms)
}

fn availability(history: &History) -> Vec<Availability> {
    let run = (0, history.duration_ms);
    let mut rows: Vec<Availability> = history
        .faults
        .iter()
        .map(|fault| {
            availability_of(
                &fault.name,
                &fault.kind,
                (fault.start_ms, fault.end_ms),
                history
                    .requests
                    .iter()
                    .filter(|request| within(request.start_ms, fault.start_ms, fault.end_ms)),
            )
        })
        .collect();
    let unfaulted = history.requests.iter().filter(|request| {
        !history
            .faults
            .iter()
            .any(|fault| within(request.start_ms, fault.start_ms, fault.end_ms))
    });
    rows.push(availability_of("no fault", "none", run, unfaulted));
    rows.push(availability_of(
        "whole run",
        "all",
        run,
        history.requests.iter(),
    ));
    rows
}

/// Requests per second by the second they started in, every second from 0 to the end of the
/// run (or the last request, if later) present so the plot has no gaps.
fn timeline(history: &History) -> Vec<Second> {
    let last_ms = history
        .requests
        .iter()
        .map(|request| request.start_ms)
        .max()
        .unwrap_or(0)
        .max(history.duration_ms.saturating_sub(1));
    let mut seconds: Vec<Second> = (0..=last_ms / 1000)
        .map(|second| Second {
            second,
            ok: 0,
            failed: 0,
        })
        .collect();
    for request in &history.requests {
        let bucket = &mut seconds[(request.start_ms / 1000) as usize];
        if verdict(request) == Verdict::Ok {
            bucket.ok += 1;
        } else {
            bucket.failed += 1;
        }
    }
    seconds
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{
        FaultWindow, FinalState, NotificationRecord, OrderState, Outcome, ProductState,
    };

    fn answered(start_ms: u64, end_ms: u64, operation: Operation, status: u16) -> RequestRecord {
        RequestRecord {
            start_ms,
            end_ms,
            operation,
            outcome: Outcome::Status { status },
            order_id: None,
            price_cents: None,
            order_status: None,
        }
    }

    fn unanswered(start_ms: u64, end_ms: u64, operation: Operation) -> RequestRecord {
        RequestRecord {
            outcome: Outcome::NoAnswer {
                reason: "timeout".to_owned(),
            },
            ..answered(start_ms, end_ms, operation, 0)
        }
    }

    /// A placement by `user` with `key` of 2 units of product 1, answered 201 naming `order_id`.
    fn placed(end_ms: u64, user: &str, key: &str, order_id: i64) -> RequestRecord {
        let operation = Operation::PlaceOrder {
            key: key.to_owned(),
            user: user.to_owned(),
            product_id: 1,
            quantity: 2,
            attempt: 0,
        };
        RequestRecord {
            order_id: Some(order_id),
            ..answered(end_ms - 1, end_ms, operation, 201)
        }
    }

    fn order(id: i64, user: &str, quantity: i64, status: &str) -> OrderState {
        OrderState {
            id,
            user: user.to_owned(),
            product_id: 1,
            quantity,
            status: status.to_owned(),
            deleted: false,
        }
    }

    fn product(id: i64, initial_stock: i64, remaining: i64, reserved: i64) -> ProductState {
        ProductState {
            id,
            initial_stock,
            remaining,
            reserved,
        }
    }

    fn event(
        event_id: &str,
        event_type: &str,
        order_id: i64,
        status: &str,
        sequence: u64,
    ) -> EventRecord {
        EventRecord {
            event_id: event_id.to_owned(),
            event_type: event_type.to_owned(),
            order_id,
            status: status.to_owned(),
            sequence,
            seen_ms: 0,
        }
    }

    fn notification(event_id: &str, order_id: i64) -> NotificationRecord {
        NotificationRecord {
            event_id: event_id.to_owned(),
            order_id: Some(order_id),
            at_ms: 50,
        }
    }

    /// A run that kept every promise: alice placed order 1 (2 units of product 1, stock 10),
    /// its event reached the stream and the broker, and its notification went out.
    fn consistent() -> History {
        History {
            seed: 7,
            duration_ms: 3_000,
            requests: vec![placed(10, "alice", "k1", 1)],
            faults: Vec::new(),
            broker_events: vec![event("e1", "order.created", 1, "pending", 1)],
            stream_events: vec![event("e1", "order.created", 1, "pending", 1)],
            notifications: vec![notification("e1", 1)],
            final_state: FinalState {
                products: vec![product(1, 10, 8, 2)],
                orders: vec![order(1, "alice", 2, "pending")],
                idempotency_keys: vec![("alice".to_owned(), "k1".to_owned(), Some(1))],
            },
        }
    }

    /// `consistent()` with order 1 cancelled everywhere: stock back, event in both logs.
    fn cancelled() -> History {
        let mut history = consistent();
        history.final_state.products = vec![product(1, 10, 10, 0)];
        history.final_state.orders[0].status = "cancelled".to_owned();
        let changed = event("e2", "order.status_changed", 1, "cancelled", 2);
        history.stream_events.push(changed.clone());
        history.broker_events.push(changed);
        history
    }

    #[test]
    fn a_consistent_history_has_no_findings() {
        for history in [consistent(), cancelled()] {
            let findings = check(&history);
            assert_eq!(
                findings.safety_violations(),
                0,
                "{:#?}",
                findings.summary_lines()
            );
            assert!(findings.count_lines().iter().all(|line| line.count == 0));
        }
    }

    #[test]
    fn an_accepted_order_missing_from_the_final_state_is_lost() {
        let mut history = consistent();
        history.final_state.orders.clear();
        let findings = check(&history);
        assert_eq!(findings.lost_orders.count, 1);
        assert_eq!(findings.lost_orders.examples, vec![1]);
    }

    #[test]
    fn a_deleted_order_is_not_lost() {
        let mut history = consistent();
        history.final_state.orders[0].deleted = true;
        assert_eq!(check(&history).lost_orders.count, 0);
    }

    #[test]
    fn a_key_answered_with_two_orders_is_doubled_once() {
        let mut history = consistent();
        history.requests.push(placed(20, "alice", "k1", 2));
        history
            .final_state
            .orders
            .push(order(2, "alice", 2, "pending"));
        let findings = check(&history);
        // Order 2 has no key row either; it is the same fault, counted once.
        assert_eq!(findings.doubled_orders.count, 1);
        assert_eq!(
            findings.doubled_orders.examples,
            vec![DoubledOrder::Key {
                user: "alice".to_owned(),
                key: "k1".to_owned(),
                order_ids: vec![1, 2]
            }]
        );
    }

    #[test]
    fn a_retry_answered_with_the_same_order_is_not_doubled() {
        let mut history = consistent();
        history
            .requests
            .insert(0, unanswered(0, 5, history.requests[0].operation.clone()));
        history.requests.push(placed(20, "alice", "k1", 1));
        assert_eq!(check(&history).doubled_orders.count, 0);
    }

    #[test]
    fn the_same_key_of_two_users_is_two_keys() {
        let mut history = consistent();
        history.requests.push(placed(20, "bob", "k1", 2));
        history
            .final_state
            .orders
            .push(order(2, "bob", 2, "pending"));
        history
            .final_state
            .idempotency_keys
            .push(("bob".to_owned(), "k1".to_owned(), Some(2)));
        history.final_state.products = vec![product(1, 10, 6, 4)];
        assert_eq!(check(&history).doubled_orders.count, 0);
    }

    #[test]
    fn a_key_row_naming_another_order_than_the_answer_is_doubled() {
        let mut history = consistent();
        history
            .final_state
            .orders
            .push(order(2, "alice", 2, "cancelled"));
        history.final_state.idempotency_keys[0].2 = Some(2);
        let findings = check(&history);
        assert_eq!(
            findings.doubled_orders.count, 1,
            "{:?}",
            findings.doubled_orders
        );
    }

    #[test]
    fn a_workload_order_without_a_key_row_is_doubled() {
        let mut history = consistent();
        history
            .final_state
            .orders
            .push(order(2, "alice", 2, "cancelled"));
        let findings = check(&history);
        assert_eq!(findings.doubled_orders.count, 1);
        assert_eq!(
            findings.doubled_orders.examples,
            vec![DoubledOrder::Unkeyed {
                order_id: 2,
                user: "alice".to_owned()
            }]
        );
    }

    #[test]
    fn an_order_of_a_user_outside_the_workload_needs_no_key_row() {
        let mut history = consistent();
        history
            .final_state
            .orders
            .push(order(2, "seed-user", 2, "cancelled"));
        assert_eq!(check(&history).doubled_orders.count, 0);
    }

    #[test]
    fn stock_missing_from_live_orders_is_not_conserved() {
        let mut history = consistent();
        // One unit gone from the order's view; the reservations still add up.
        history.final_state.products = vec![product(1, 10, 9, 1)];
        let findings = check(&history);
        assert_eq!(findings.stock_not_conserved.count, 1);
        assert_eq!(
            findings.stock_not_conserved.examples,
            vec![StockMismatch {
                product_id: 1,
                expected: 10,
                actual: 11
            }]
        );
        assert_eq!(findings.reservations_not_conserved.count, 0);
    }

    #[test]
    fn a_cancelled_orders_units_back_in_stock_are_conserved() {
        let findings = check(&cancelled());
        assert_eq!(findings.stock_not_conserved.count, 0);
        assert_eq!(findings.reservations_not_conserved.count, 0);
    }

    #[test]
    fn a_cancelled_order_still_holding_stock_is_not_conserved() {
        let mut history = cancelled();
        history.final_state.products = vec![product(1, 10, 8, 0)];
        assert_eq!(check(&history).stock_not_conserved.count, 1);
    }

    #[test]
    fn reservations_not_matching_the_stock_are_not_conserved() {
        let mut history = consistent();
        history.final_state.products = vec![product(1, 10, 8, 3)];
        let findings = check(&history);
        assert_eq!(findings.reservations_not_conserved.count, 1);
        assert_eq!(
            findings.reservations_not_conserved.examples,
            vec![StockMismatch {
                product_id: 1,
                expected: 10,
                actual: 11
            }]
        );
        assert_eq!(findings.stock_not_conserved.count, 0);
    }

    #[test]
    fn negative_stock_is_oversold() {
        let mut history = consistent();
        history.final_state.products = vec![product(1, 10, -1, 2)];
        let findings = check(&history);
        assert_eq!(findings.oversold.count, 1);
        assert_eq!(findings.oversold.examples[0].remaining, -1);
    }

    #[test]
    fn more_units_in_live_orders_than_stock_is_oversold() {
        let mut history = consistent();
        history.final_state.orders[0].quantity = 11;
        history.final_state.products = vec![product(1, 10, 0, 10)];
        assert_eq!(check(&history).oversold.count, 1);
    }

    #[test]
    fn a_sold_out_product_is_not_oversold() {
        let mut history = consistent();
        history.final_state.orders[0].quantity = 10;
        history.final_state.products = vec![product(1, 10, 0, 10)];
        let findings = check(&history);
        assert_eq!(findings.oversold.count, 0);
        assert_eq!(findings.stock_not_conserved.count, 0);
    }

    #[test]
    fn an_order_without_created_in_the_stream_is_lost_there() {
        let mut history = consistent();
        history.stream_events.clear();
        let findings = check(&history);
        assert_eq!(findings.stream_lost_created.count, 1);
        assert_eq!(findings.stream_lost_created.examples, vec![1]);
    }

    #[test]
    fn a_deleted_order_still_needs_its_created_event() {
        let mut history = consistent();
        history.final_state.orders[0].deleted = true;
        history.final_state.products = vec![product(1, 10, 10, 0)];
        assert_eq!(check(&history).stream_lost_created.count, 0);
        history.stream_events.clear();
        assert_eq!(check(&history).stream_lost_created.count, 1);
    }

    #[test]
    fn a_cancelled_order_without_its_cancellation_in_the_stream_is_lost_there() {
        let mut history = cancelled();
        history.stream_events[1].status = "confirmed".to_owned();
        let findings = check(&history);
        assert_eq!(findings.stream_lost_cancelled.count, 1);
        assert_eq!(findings.stream_lost_cancelled.examples, vec![1]);
    }

    #[test]
    fn a_cancelled_order_with_its_cancellation_in_the_stream_is_not_lost() {
        assert_eq!(check(&cancelled()).stream_lost_cancelled.count, 0);
    }

    #[test]
    fn an_event_stored_twice_in_the_stream_is_duplicated_once() {
        let mut history = consistent();
        history
            .stream_events
            .push(event("e1", "order.created", 1, "pending", 2));
        history
            .stream_events
            .push(event("e1", "order.created", 1, "pending", 3));
        let findings = check(&history);
        assert_eq!(findings.stream_duplicated.count, 1);
        assert_eq!(findings.stream_duplicated.examples, vec!["e1".to_owned()]);
        // Judged once, as a duplicate: not also out of order.
        assert_eq!(findings.stream_out_of_order.count, 0);
    }

    #[test]
    fn distinct_events_of_one_order_are_not_duplicated() {
        assert_eq!(check(&cancelled()).stream_duplicated.count, 0);
    }

    #[test]
    fn an_event_before_created_is_out_of_order() {
        let mut history = cancelled();
        history.stream_events[0].sequence = 3;
        let findings = check(&history);
        assert_eq!(findings.stream_out_of_order.count, 1);
        assert_eq!(findings.stream_out_of_order.examples, vec![1]);
    }

    #[test]
    fn an_event_after_deleted_is_out_of_order() {
        let mut history = cancelled();
        history
            .stream_events
            .insert(1, event("e3", "order.deleted", 1, "pending", 2));
        history.stream_events[2].sequence = 3;
        assert_eq!(check(&history).stream_out_of_order.count, 1);
    }

    #[test]
    fn events_in_sequence_order_are_in_order_whatever_the_recorded_order() {
        let mut history = cancelled();
        history
            .stream_events
            .push(event("e3", "order.deleted", 1, "cancelled", 3));
        history.stream_events.reverse();
        assert_eq!(check(&history).stream_out_of_order.count, 0);
    }

    #[test]
    fn an_event_for_an_order_not_in_the_final_state_is_unknown() {
        let mut history = consistent();
        history
            .stream_events
            .push(event("e9", "order.status_changed", 99, "confirmed", 2));
        history
            .stream_events
            .push(event("e10", "order.status_changed", 99, "shipped", 3));
        let findings = check(&history);
        assert_eq!(findings.stream_unknown_orders.count, 1);
        assert_eq!(findings.stream_unknown_orders.examples, vec![99]);
    }

    #[test]
    fn events_for_orders_in_the_final_state_are_known() {
        assert_eq!(check(&cancelled()).stream_unknown_orders.count, 0);
    }

    #[test]
    fn an_order_without_created_on_the_broker_is_lost_there() {
        let mut history = cancelled();
        history.broker_events.remove(0);
        let findings = check(&history);
        assert_eq!(findings.broker_lost_created.count, 1);
        assert_eq!(findings.stream_lost_created.count, 0);
    }

    #[test]
    fn a_broker_redelivery_is_counted_but_is_no_violation() {
        let mut history = consistent();
        history
            .broker_events
            .push(event("e1", "order.created", 1, "pending", 2));
        let findings = check(&history);
        assert_eq!(findings.broker_redelivered.count, 1);
        assert_eq!(findings.broker_lost_created.count, 0);
        assert_eq!(findings.safety_violations(), 0);
    }

    #[test]
    fn a_broker_without_redeliveries_has_none() {
        assert_eq!(check(&cancelled()).broker_redelivered.count, 0);
    }

    #[test]
    fn an_order_created_without_a_notification_is_missing_one() {
        let mut history = consistent();
        history.notifications.clear();
        let findings = check(&history);
        assert_eq!(findings.notifications_missing.count, 1);
        assert_eq!(
            findings.notifications_missing.examples,
            vec!["e1".to_owned()]
        );
    }

    #[test]
    fn a_status_change_needs_no_notification() {
        // cancelled() has a status change in the stream and one notification, for e1.
        assert_eq!(check(&cancelled()).notifications_missing.count, 0);
    }

    #[test]
    fn a_notification_redelivery_is_counted_but_is_no_violation() {
        let mut history = consistent();
        history.notifications.push(notification("e1", 1));
        history.notifications.push(notification("e1", 1));
        let findings = check(&history);
        assert_eq!(findings.notifications_redelivered.count, 1);
        assert_eq!(findings.safety_violations(), 0);
    }

    #[test]
    fn a_single_notification_is_not_redelivered() {
        assert_eq!(check(&consistent()).notifications_redelivered.count, 0);
    }

    #[test]
    fn a_notification_for_an_event_that_is_no_order_created_is_unknown() {
        let mut history = cancelled();
        history.notifications.push(notification("e2", 1));
        history.notifications.push(notification("e2", 1));
        let findings = check(&history);
        assert_eq!(findings.notifications_unknown.count, 1);
        assert_eq!(
            findings.notifications_unknown.examples,
            vec!["e2".to_owned()]
        );
    }

    #[test]
    fn a_notification_for_an_order_created_in_the_stream_is_known() {
        assert_eq!(check(&consistent()).notifications_unknown.count, 0);
    }

    fn price_update(start_ms: u64, end_ms: u64, price_cents: i64) -> RequestRecord {
        let operation = Operation::UpdatePrice {
            product_id: 1,
            price_cents,
        };
        RequestRecord {
            price_cents: Some(price_cents),
            ..answered(start_ms, end_ms, operation, 200)
        }
    }

    fn price_read(start_ms: u64, price_cents: i64) -> RequestRecord {
        let operation = Operation::ReadProduct { product_id: 1 };
        RequestRecord {
            price_cents: Some(price_cents),
            ..answered(start_ms, start_ms + 5, operation, 200)
        }
    }

    #[test]
    fn a_price_read_after_a_returned_update_showing_an_older_price_is_stale() {
        let mut history = consistent();
        history.requests.push(price_update(100, 200, 1_000));
        history.requests.push(price_update(300, 400, 1_100));
        history.requests.push(price_read(500, 1_000));
        let findings = check(&history);
        assert_eq!(findings.stale_reads.count, 1);
        assert_eq!(
            findings.stale_reads.examples,
            vec![StaleRead::Price {
                product_id: 1,
                read_start_ms: 500,
                seen_price_cents: 1_000,
                expected_at_least_cents: 1_100
            }]
        );
    }

    #[test]
    fn a_price_read_concurrent_with_an_update_may_show_the_older_price() {
        let mut history = consistent();
        history.requests.push(price_update(100, 200, 1_000));
        history.requests.push(price_update(300, 400, 1_100));
        // Started before the second write returned.
        history.requests.push(price_read(350, 1_000));
        history.requests.push(price_read(500, 1_100));
        // A failed write promises nothing.
        let mut failed_update = price_update(600, 700, 1_200);
        failed_update.outcome = Outcome::Status { status: 503 };
        history.requests.push(failed_update);
        history.requests.push(price_read(800, 1_100));
        assert_eq!(check(&history).stale_reads.count, 0);
    }

    fn cancel(start_ms: u64, end_ms: u64, status: u16) -> RequestRecord {
        answered(
            start_ms,
            end_ms,
            Operation::CancelOrder { order_id: 1 },
            status,
        )
    }

    fn order_read(start_ms: u64, status: u16, order_status: Option<&str>) -> RequestRecord {
        RequestRecord {
            order_status: order_status.map(str::to_owned),
            ..answered(
                start_ms,
                start_ms + 5,
                Operation::ReadOrder { order_id: 1 },
                status,
            )
        }
    }

    #[test]
    fn an_order_read_after_a_returned_cancel_showing_another_status_is_stale() {
        let mut history = cancelled();
        history.requests.push(cancel(100, 200, 200));
        history.requests.push(order_read(300, 200, Some("pending")));
        let findings = check(&history);
        assert_eq!(findings.stale_reads.count, 1);
        assert!(matches!(
            findings.stale_reads.examples[0],
            StaleRead::OrderStatus { .. }
        ));
    }

    #[test]
    fn an_order_read_concurrent_with_a_cancel_may_show_the_older_status() {
        let mut history = cancelled();
        history.requests.push(cancel(100, 200, 200));
        history.requests.push(order_read(150, 200, Some("pending")));
        history
            .requests
            .push(order_read(300, 200, Some("cancelled")));
        // A refused cancel promises nothing.
        history.requests.push(cancel(400, 450, 409));
        history
            .requests
            .push(order_read(500, 200, Some("cancelled")));
        assert_eq!(check(&history).stale_reads.count, 0);
    }

    #[test]
    fn an_order_read_answering_404_after_its_placement_returned_is_stale() {
        let mut history = consistent();
        history.requests.push(order_read(300, 404, None));
        let findings = check(&history);
        assert_eq!(findings.stale_reads.count, 1);
        assert_eq!(
            findings.stale_reads.examples,
            vec![StaleRead::OrderMissing {
                order_id: 1,
                read_start_ms: 300,
                placed_at_ms: 10
            }]
        );
    }

    #[test]
    fn an_order_read_answering_404_before_placement_returned_or_after_deletion_is_not_stale() {
        let mut history = consistent();
        history.requests.insert(0, order_read(5, 404, None));
        assert_eq!(check(&history).stale_reads.count, 0);
        history.requests.push(order_read(300, 404, None));
        history.final_state.orders[0].deleted = true;
        history.final_state.products = vec![product(1, 10, 10, 0)];
        assert_eq!(check(&history).stale_reads.count, 0);
    }

    fn read_product(start_ms: u64, latency_ms: u64, status: u16) -> RequestRecord {
        answered(
            start_ms,
            start_ms + latency_ms,
            Operation::ReadProduct { product_id: 1 },
            status,
        )
    }

    #[test]
    fn availability_counts_ok_fast_unavailable_and_failed_per_window() {
        let place = placed(10, "alice", "k1", 1).operation;
        let history = History {
            duration_ms: 5_000,
            faults: vec![FaultWindow::new(
                "partition a ↛ db",
                "partition",
                1_000,
                2_000,
            )],
            requests: vec![
                // No fault.
                read_product(0, 10, 200),
                read_product(500, 30, 500),
                // In the fault: a business answer, a fast and a slow 503, a 409 to a read,
                // no answer.
                answered(1_000, 1_020, place, 409),
                read_product(1_100, FAST_503_MS, 503),
                read_product(1_200, FAST_503_MS + 1, 503),
                read_product(1_300, 10, 409),
                unanswered(1_999, 4_999, Operation::ReadProduct { product_id: 1 }),
                // Ends the window: no fault again.
                read_product(2_000, 20, 200),
            ],
            ..History::default()
        };
        let findings = check(&history);
        let [faulted, unfaulted, whole] = findings.availability.as_slice() else {
            panic!("{:?}", findings.availability)
        };
        assert_eq!(faulted.label, "partition a ↛ db");
        assert_eq!(
            (
                faulted.total,
                faulted.ok,
                faulted.fast_unavailable,
                faulted.failed
            ),
            (5, 1, 1, 3)
        );
        assert_eq!(faulted.share, Some(0.4));
        assert_eq!(
            (faulted.p50_ms, faulted.p99_ms),
            (Some(FAST_503_MS), Some(3_000))
        );
        assert_eq!(
            (unfaulted.label.as_str(), unfaulted.kind.as_str()),
            ("no fault", "none")
        );
        assert_eq!((unfaulted.total, unfaulted.ok, unfaulted.failed), (3, 2, 1));
        assert_eq!((unfaulted.p50_ms, unfaulted.p99_ms), (Some(20), Some(30)));
        assert_eq!(
            (whole.total, whole.ok, whole.fast_unavailable, whole.failed),
            (8, 3, 1, 4)
        );
        assert_eq!(whole.share, Some(0.5));
    }

    #[test]
    fn a_window_without_requests_has_no_share_and_no_latency() {
        let history = History {
            duration_ms: 5_000,
            faults: vec![FaultWindow::new("pause redis", "pause", 1_000, 2_000)],
            requests: vec![read_product(0, 10, 200)],
            ..History::default()
        };
        let row = &check(&history).availability[0];
        assert_eq!(
            (row.total, row.share, row.p50_ms, row.p99_ms),
            (0, None, None, None)
        );
    }

    #[test]
    fn nearest_rank_picks_the_smallest_value_covering_the_percentile() {
        let hundred: Vec<u64> = (1..=100).collect();
        assert_eq!(nearest_rank(&hundred, 50), Some(50));
        assert_eq!(nearest_rank(&hundred, 99), Some(99));
        assert_eq!(nearest_rank(&[10, 20], 50), Some(10));
        assert_eq!(nearest_rank(&[10, 20], 99), Some(20));
        assert_eq!(nearest_rank(&[7], 1), Some(7));
        assert_eq!(nearest_rank(&[], 50), None);
    }

    #[test]
    fn the_timeline_has_every_second_of_the_run() {
        let history = History {
            duration_ms: 4_000,
            requests: vec![
                read_product(0, 10, 200),
                read_product(999, 10, 200),
                read_product(1_000, 10, 503),
                read_product(2_500, 10, 200),
            ],
            ..History::default()
        };
        let timeline = check(&history).timeline;
        assert_eq!(
            timeline,
            vec![
                Second {
                    second: 0,
                    ok: 2,
                    failed: 0
                },
                Second {
                    second: 1,
                    ok: 0,
                    failed: 1
                },
                Second {
                    second: 2,
                    ok: 1,
                    failed: 0
                },
                Second {
                    second: 3,
                    ok: 0,
                    failed: 0
                },
            ]
        );
    }

    #[test]
    fn safety_violations_sum_every_safety_count_and_only_those() {
        let mut history = consistent();
        history.final_state.orders.clear(); // lost, and no order to conserve stock against
        history.notifications.push(notification("e1", 1)); // redelivered: not counted
        history
            .broker_events
            .push(event("e1", "order.created", 1, "pending", 2)); // same
        let findings = check(&history);
        let expected: u64 = findings
            .count_lines()
            .iter()
            .filter(|line| line.is_safety)
            .map(|line| line.count)
            .sum();
        assert!(expected >= 2, "{:#?}", findings.summary_lines());
        assert_eq!(findings.safety_violations(), expected);
        assert_eq!(findings.notifications_redelivered.count, 1);
        assert_eq!(findings.broker_redelivered.count, 1);
        // lost order, stock of product 1 not conserved, and an unknown order in the stream.
        assert_eq!(findings.safety_violations(), 3);
    }

    #[test]
    fn summary_lines_have_one_line_per_count() {
        let mut history = consistent();
        history.final_state.orders.clear();
        let findings = check(&history);
        let lines = findings.summary_lines();
        assert_eq!(lines.len(), findings.count_lines().len());
        assert!(
            lines.contains(&"accepted orders lost: 1 (e.g. 1)".to_owned()),
            "{lines:#?}"
        );
        assert!(lines.contains(&"stale reads: 0".to_owned()), "{lines:#?}");
    }

    #[test]
    fn examples_stop_at_the_limit_but_the_count_goes_on() {
        let mut history = consistent();
        for id in 2..=9 {
            history
                .requests
                .push(placed(20, "alice", &format!("k{id}"), id));
        }
        let findings = check(&history);
        assert_eq!(findings.lost_orders.count, 8);
        assert_eq!(findings.lost_orders.examples, vec![2, 3, 4, 5, 6]);
    }

    #[test]
    fn findings_serialize_to_json() {
        let findings = check(&consistent());
        let json = serde_json::to_value(&findings).unwrap();
        assert_eq!(json["lost_orders"]["count"], 0);
        assert_eq!(json["availability"][0]["label"], "no fault");
    }
}
