//! The bridge under test is `test_support::bridge::BridgeHandle` (started in-process on a
//! random port, on names unique to the test, removed when it ends); here are the helpers that
//! read what it stored in the stream.

use std::collections::HashMap;
use std::time::Duration;

use async_nats::jetstream;
use async_nats::jetstream::message::StreamMessage;

pub use crate::publisher::Publisher;
pub use test_support::bridge::{BridgeHandle as TestBridge, Names, SHARED_NATS};
pub use test_support::broker::service_url as broker;

/// Every message of the stream, in stream order.
pub async fn read_stream(context: &jetstream::Context, stream: &str) -> Vec<StreamMessage> {
    let stream = context.get_stream(stream).await.expect("the stream exists");
    let state = stream.cached_info().state.clone();
    let mut messages = Vec::new();
    for sequence in state.first_sequence..=state.last_sequence {
        if state.messages == 0 {
            break;
        }
        messages.push(stream.get_raw_message(sequence).await.unwrap());
    }
    messages
}

pub async fn stream_count(context: &jetstream::Context, stream: &str) -> u64 {
    match context.get_stream(stream).await {
        Ok(stream) => stream.cached_info().state.messages,
        Err(_) => 0,
    }
}

/// Waits until the stream holds `count` messages, then returns them.
pub async fn wait_for_stream(
    context: &jetstream::Context,
    stream: &str,
    count: u64,
    deadline: Duration,
) -> Vec<StreamMessage> {
    test_support::wait_until(
        &format!("{count} messages in stream {stream}"),
        deadline,
        || async { (stream_count(context, stream).await >= count).then_some(()) },
    )
    .await;
    read_stream(context, stream).await
}

pub fn header<'a>(message: &'a StreamMessage, name: &str) -> Option<&'a str> {
    message.headers.get(name).map(|value| value.as_str())
}

/// Checks that the stream holds each published event exactly once, under the subject of its
/// routing key, and in publish order per order (the bridge's lanes: one order's events keep
/// their order across routing keys; different orders' events may pass each other).
pub fn assert_exactly_once_in_order(
    messages: &[StreamMessage],
    prefix: &str,
    published: &[(String, String)],
) {
    let ids: Vec<&str> = messages
        .iter()
        .map(|message| header(message, "Nats-Msg-Id").expect("Nats-Msg-Id"))
        .collect();
    let mut seen = HashMap::new();
    for id in &ids {
        *seen.entry(*id).or_insert(0) += 1;
    }
    let duplicates: Vec<_> = seen.iter().filter(|(_, count)| **count > 1).collect();
    assert!(duplicates.is_empty(), "stored twice: {duplicates:?}");
    assert_eq!(
        messages.len(),
        published.len(),
        "one stored message per event"
    );
    // Each stored message's order and subject, by its id (the body is stored unchanged).
    let mut stored_per_order: std::collections::BTreeMap<i64, Vec<&str>> = Default::default();
    let mut order_of = HashMap::new();
    for (message, id) in messages.iter().zip(&ids) {
        let body: serde_json::Value = serde_json::from_slice(&message.payload).expect("JSON");
        let order = body["order"]["id"].as_i64().expect("an order id");
        stored_per_order.entry(order).or_default().push(id);
        order_of.insert(*id, order);
    }
    let mut expected_per_order: std::collections::BTreeMap<i64, Vec<&str>> = Default::default();
    for (routing_key, id) in published {
        let order = *order_of
            .get(id.as_str())
            .unwrap_or_else(|| panic!("{id} was not stored"));
        expected_per_order.entry(order).or_default().push(id);
        let stored = messages
            .iter()
            .zip(&ids)
            .find(|(_, stored)| **stored == id.as_str())
            .map(|(message, _)| message.subject.as_str());
        assert_eq!(stored, Some(format!("{prefix}.{routing_key}").as_str()));
    }
    assert_eq!(
        stored_per_order, expected_per_order,
        "events per order, in stream order"
    );
}
