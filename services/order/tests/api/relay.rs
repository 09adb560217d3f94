//! The outbox relay end to end, judged by event id: what reached the exchange against what the
//! outbox holds. Events go out at least once (docs/events.md), so the broker may carry a copy
//! twice; what must hold is that no event is lost and that every copy carries the same
//! consumer-visible dedup key (`message_id` = the body's `event_id`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use serde_json::Value;
use test_infra::proxy::TcpProxy;
use test_support::broker::{BROKER_ADDRESS, TakenMessage, TestBroker, service_url};
use test_support::{OrderServiceHandle, ProductServiceHandle, UserServiceHandle, wait_until};

/// A guard against a hang only: far beyond what any step takes on a loaded machine.
const WAIT: Duration = Duration::from_secs(60);

/// The `order.created` copies a test's queue received, by event id.
#[derive(Debug, Default)]
pub struct EventLedger {
    /// event id → (order id, copies received)
    copies: HashMap<String, (i64, usize)>,
}

impl EventLedger {
    /// Records every message `queue` holds now.
    pub async fn take(&mut self, broker: &TestBroker, queue: &str) {
        for message in broker.take_all(queue).await {
            self.record(&message);
        }
    }

    fn record(&mut self, message: &TakenMessage) {
        let event: Value = serde_json::from_slice(&message.data).expect("an event body");
        let event_id = event["event_id"].as_str().expect("an event id").to_owned();
        let message_id = message
            .properties
            .message_id()
            .as_ref()
            .map(|id| id.as_str().to_owned());
        assert_eq!(
            message_id.as_deref(),
            Some(event_id.as_str()),
            "the dedup key consumers see is the event id"
        );
        let order = event["order"]["id"].as_i64().expect("an order id");
        let entry = self.copies.entry(event_id).or_insert((order, 0));
        assert_eq!(entry.0, order, "one event id belongs to one order");
        entry.1 += 1;
    }

    /// Event id → order id, as [`outbox_events`] returns them.
    pub fn events(&self) -> BTreeMap<String, i64> {
        self.copies
            .iter()
            .map(|(id, (order, _))| (id.clone(), *order))
            .collect()
    }

    /// Event ids the broker carried more than once.
    pub fn duplicated(&self) -> BTreeSet<&str> {
        self.copies
            .iter()
            .filter(|(_, (_, copies))| *copies > 1)
            .map(|(id, _)| id.as_str())
            .collect()
    }

    /// Waits until every event of `expected` arrived.
    pub async fn wait_for(
        &mut self,
        broker: &TestBroker,
        queue: &str,
        expected: &BTreeMap<String, i64>,
    ) {
        let ledger = std::cell::RefCell::new(self);
        wait_until("every stored event at the exchange", WAIT, || async {
            let messages = broker.take_all(queue).await;
            let mut ledger = ledger.borrow_mut();
            for message in &messages {
                ledger.record(message);
            }
            expected
                .keys()
                .all(|id| ledger.copies.contains_key(id))
                .then_some(())
        })
        .await;
    }
}

/// The `order.created` events the outbox of `database_url` holds: event id → order id.
pub async fn outbox_events(database_url: &str) -> BTreeMap<String, i64> {
    test_support::database_client(database_url)
        .await
        .query(
            "SELECT event_id::text, aggregate_id FROM outbox WHERE event_type = 'order.created'",
            &[],
        )
        .await
        .expect("the outbox is readable")
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
}

/// An Order Service stopped while the broker is away leaves its events in the outbox; a new
/// instance on the same database publishes them once the broker is back.
#[tokio::test]
async fn a_restarted_service_publishes_what_the_stopped_one_left_in_the_outbox() {
    let users = UserServiceHandle::start().await;
    let products = ProductServiceHandle::start(&users).await;
    let proxy = TcpProxy::start(BROKER_ADDRESS.parse().unwrap()).await;
    let amqp_url = proxy.rewrite_url(service_url());
    let settings = [("AMQP_URL", amqp_url.as_str()), ("AMQP_TIMEOUT_MS", "1000")];
    let first = OrderServiceHandle::start_with(&users, &products, &settings).await;
    let broker = TestBroker::connect().await;
    let tap = broker.tap(&first.exchange, "order.created").await;
    let (_, admin) = users.admin().await;
    let (_, customer) = users.customer().await;
    let product = products.product_with_stock(&admin, "Lamp", 10).await;

    proxy.cut();
    for _ in 0..4 {
        first.place_order(&customer, product, 1).await;
    }
    wait_until("the backlog gauge", WAIT, || async {
        (first.served_metric("outbox_backlog").await >= 4.0).then_some(())
    })
    .await;
    let left = first.stop().await;
    let stored = outbox_events(&left.database.url).await;
    assert_eq!(stored.len(), 4);
    assert!(
        broker.take_all(&tap).await.is_empty(),
        "nothing went out with the broker cut"
    );

    let second = OrderServiceHandle::start_beside(&users, &products, &left, &settings).await;
    proxy.restore();
    let mut ledger = EventLedger::default();
    ledger.wait_for(&broker, &tap, &stored).await;
    assert_eq!(
        ledger.events(),
        stored,
        "every stored event, and only those"
    );
    wait_until("the outbox emptied", WAIT, || async {
        (second.drain().await.ok()? == 0).then_some(())
    })
    .await;
    second.stop().await;
}

/// Two replicas' relays draining one outbox at once. What the design promises (see
/// `order_outbox::claim`): a row is claimed `FOR UPDATE SKIP LOCKED` for the whole of its publish,
/// so the two relays never publish one row at the same time, and it is marked published once,
/// by the relay whose confirm came. What it does not promise is one copy at the broker: a
/// confirm that is late (a slow machine, the confirm timeout) counts as a failure, and the row
/// goes out again, which is the at-least-once duplicate consumers remove by event id. So the
/// test asserts every event at least once; rows marked once in all (the confirmed-publish
/// counters of both relays add up to the rows); and that a copy the broker carried twice was
/// always preceded by a failed attempt recorded on its row: a second copy without one could
/// only be two relays holding one row, which the claim forbids. None of it depends on timing.
#[tokio::test]
async fn two_relays_draining_one_outbox_never_publish_one_row_at_once() {
    let users = UserServiceHandle::start().await;
    let products = ProductServiceHandle::start(&users).await;
    let proxy = TcpProxy::start(BROKER_ADDRESS.parse().unwrap()).await;
    let amqp_url = proxy.rewrite_url(service_url());
    // One row per claim, so the two relays interleave instead of one taking the whole backlog,
    // and a failure recorded on a row is that row's own.
    let settings = [
        ("AMQP_URL", amqp_url.as_str()),
        ("AMQP_TIMEOUT_MS", "1000"),
        ("OUTBOX_BATCH_SIZE", "1"),
        ("MAX_PENDING_ORDERS_PER_CUSTOMER", "30"),
    ];
    let first = OrderServiceHandle::start_with(&users, &products, &settings).await;
    let second = OrderServiceHandle::start_beside(&users, &products, &first, &settings).await;
    let broker = TestBroker::connect().await;
    let tap = broker.tap(&first.exchange, "order.created").await;
    let (_, admin) = users.admin().await;
    let (_, customer) = users.customer().await;
    let product = products.product_with_stock(&admin, "Rug", 100).await;

    // A backlog both relays find when the broker comes back.
    proxy.cut();
    for _ in 0..30 {
        first.place_order(&customer, product, 1).await;
    }
    let stored = outbox_events(&first.database.url).await;
    assert_eq!(stored.len(), 30);
    proxy.restore();
    // Besides their own loops, drive both relays at once until the outbox is empty.
    wait_until("both relays to drain the outbox", WAIT, || async {
        let (a, b) = tokio::join!(first.relay.drain(), second.drain());
        (a.ok()? == 0 && b.ok()? == 0).then_some(())
    })
    .await;
    let mut ledger = EventLedger::default();
    ledger.wait_for(&broker, &tap, &stored).await;
    ledger.take(&broker, &tap).await;
    assert_eq!(ledger.events(), stored, "every event at least once");

    let rows = outbox_rows(&first.database.url).await;
    assert!(
        rows.values().all(|row| row.published),
        "every row marked published: {rows:?}"
    );
    let published = first.served_metric("outbox_published_total").await
        + second.served_metric("outbox_published_total").await;
    assert_eq!(published, 30.0, "each row confirmed and marked once");
    for event_id in ledger.duplicated() {
        assert!(
            rows[event_id].failed_attempts > 0,
            "event {event_id} went out twice with no failed attempt on its row: two relays \
             held it at once"
        );
    }
    second.stop().await;
}

/// What the outbox says of one row.
#[derive(Debug)]
struct OutboxRow {
    published: bool,
    /// Publishes of it that failed (a refusal, a lost or late confirm).
    failed_attempts: i32,
}

/// The `order.created` rows of the outbox of `database_url`, by event id.
async fn outbox_rows(database_url: &str) -> BTreeMap<String, OutboxRow> {
    test_support::database_client(database_url)
        .await
        .query(
            "SELECT event_id::text, published_at IS NOT NULL, attempts FROM outbox \
             WHERE event_type = 'order.created'",
            &[],
        )
        .await
        .expect("the outbox is readable")
        .iter()
        .map(|row| {
            let state = OutboxRow {
                published: row.get(1),
                failed_attempts: row.get(2),
            };
            (row.get(0), state)
        })
        .collect()
}
