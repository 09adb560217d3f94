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
/// routing key, and in publish order per routing key.
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
    for key in ["order.created", "order.status_changed"] {
        let subject = format!("{prefix}.{key}");
        let stored: Vec<&str> = messages
            .iter()
            .filter(|message| message.subject.as_str() == subject)
            .map(|message| header(message, "Nats-Msg-Id").unwrap())
            .collect();
        let expected: Vec<&str> = published
            .iter()
            .filter(|(routing_key, _)| routing_key == key)
            .map(|(_, id)| id.as_str())
            .collect();
        assert_eq!(stored, expected, "order of {subject}");
    }
}
