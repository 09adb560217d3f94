//! What ends up in the stream: each event once, in order per routing key, with its headers and
//! trace; the id fallbacks; dead-lettering; an extra durable JetStream consumer.

use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, pull};
use futures_util::StreamExt;
use opentelemetry::trace::TraceContextExt;
use serde_json::json;
use tracing::Instrument;

use crate::harness::{
    Publisher, TestBridge, assert_exactly_once_in_order, header, read_stream, wait_for_stream,
};

const DEADLINE: Duration = Duration::from_secs(20);

#[tokio::test]
async fn every_event_is_stored_once_in_order_with_its_payload_headers_and_trace() {
    let bridge = TestBridge::start_unique().await;
    let publisher = Publisher::new(&bridge.names.exchange).await;
    let span = tracing::info_span!("test.order_service.outbox");
    let trace_id = span.in_scope(shop_telemetry::current_trace_id).unwrap();

    let published = publisher
        .publish_events(1, 30)
        .instrument(span.clone())
        .await;
    // The outbox publishes again whatever it is not sure about: same message ids.
    for (key, id) in &published {
        let (_, body) = Publisher::event(99, key);
        publisher
            .publish(key, Some(id), &body)
            .instrument(span.clone())
            .await;
    }

    let js = bridge.jetstream().await;
    wait_for_stream(&js, &bridge.names.stream, 30, DEADLINE).await;
    test_support::wait_until(
        "the re-published copies to be acked as duplicates",
        DEADLINE,
        || async {
            let duplicates = bridge
                .served_metric(r#"bridge_events_duplicate_total{routing_key="order.created"}"#)
                .await
                + bridge
                    .served_metric(
                        r#"bridge_events_duplicate_total{routing_key="order.status_changed"}"#,
                    )
                    .await;
            (duplicates == 30.0).then_some(())
        },
    )
    .await;
    let messages = read_stream(&js, &bridge.names.stream).await;
    assert_exactly_once_in_order(&messages, &bridge.names.prefix, &published);

    let first = &messages[0];
    assert_eq!(
        first.subject.as_str(),
        format!("{}.order.created", bridge.names.prefix)
    );
    let body: serde_json::Value = serde_json::from_slice(&first.payload).unwrap();
    assert_eq!(
        body["event_id"],
        published[0].1.as_str(),
        "payload unchanged"
    );
    assert_eq!(body["order"]["id"], 1);
    assert_eq!(header(first, "Content-Type"), Some("application/json"));
    assert_eq!(header(first, "x-schema-version"), Some("1"));
    assert_eq!(header(first, "Amqp-Routing-Key"), Some("order.created"));
    let traceparent = header(first, "traceparent").expect("traceparent");
    let context = shop_telemetry::context_from_fields([("traceparent", traceparent)]);
    assert_eq!(
        context.span().span_context().trace_id().to_string(),
        trace_id,
        "the stored event continues the publisher's trace"
    );
    assert_eq!(bridge.served_metric("bridge_events_in_flight").await, 0.0);
}

#[tokio::test]
async fn a_message_without_message_id_is_stored_once_under_its_event_id_or_content_hash() {
    let bridge = TestBridge::start_unique().await;
    let publisher = Publisher::new(&bridge.names.exchange).await;
    let (event_id, body) = Publisher::event(1, "order.created");
    let opaque = json!("not an order event");
    for _ in 0..2 {
        publisher.publish("order.created", None, &body).await;
        publisher.publish("order.created", None, &opaque).await;
    }

    let js = bridge.jetstream().await;
    wait_for_stream(&js, &bridge.names.stream, 2, DEADLINE).await;
    test_support::wait_until("all four deliveries to be handled", DEADLINE, || async {
        let handled = bridge
            .served_metric(r#"bridge_events_missing_id_total{fallback="event_id"}"#)
            .await
            + bridge
                .served_metric(r#"bridge_events_missing_id_total{fallback="content_hash"}"#)
                .await;
        (handled == 4.0).then_some(())
    })
    .await;
    let messages = read_stream(&js, &bridge.names.stream).await;
    let ids: Vec<_> = messages
        .iter()
        .map(|m| header(m, "Nats-Msg-Id").unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert_eq!(ids[0], event_id);
    assert!(ids[1].starts_with("sha256:"), "{ids:?}");
}

#[tokio::test]
async fn a_routing_key_that_is_no_subject_is_dead_lettered_without_blocking_the_rest() {
    let bridge = TestBridge::start_unique().await;
    let publisher = Publisher::new(&bridge.names.exchange).await;
    let (bad_id, bad_body) = Publisher::event(1, "order.created");
    publisher
        .publish("order.not a subject", Some(&bad_id), &bad_body)
        .await;
    let published = publisher.publish_events(2, 2).await;

    let js = bridge.jetstream().await;
    let messages = wait_for_stream(&js, &bridge.names.stream, 2, DEADLINE).await;
    assert_exactly_once_in_order(&messages, &bridge.names.prefix, &published);
    let dead_letter_queue = format!("{}.dead", bridge.names.queue);
    let (routing_key, data) = test_support::wait_until("the dead letter", DEADLINE, || {
        publisher.get(&dead_letter_queue)
    })
    .await;
    assert_eq!(routing_key, "order.not a subject", "kept in x-death");
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&data).unwrap(),
        bad_body
    );
    assert_eq!(
        bridge
            .served_metric(r#"bridge_events_dead_lettered_total{reason="invalid_routing_key"}"#)
            .await,
        1.0
    );
}

/// The README's extra consumer: a durable pull consumer of one event type, acking each event.
#[tokio::test]
async fn a_durable_jetstream_consumer_receives_the_order_events() {
    let bridge = TestBridge::start_unique().await;
    let publisher = Publisher::new(&bridge.names.exchange).await;
    // Three orders: three `order.created` among twelve events.
    let published = publisher.publish_events(1, 12).await;
    let js = bridge.jetstream().await;
    wait_for_stream(&js, &bridge.names.stream, 12, DEADLINE).await;

    let stream = js.get_stream(&bridge.names.stream).await.unwrap();
    let config = pull::Config {
        durable_name: Some("order-analytics".into()),
        filter_subject: format!("{}.order.created", bridge.names.prefix),
        ack_policy: AckPolicy::Explicit,
        ..pull::Config::default()
    };
    let consumer = stream
        .get_or_create_consumer("order-analytics", config.clone())
        .await
        .unwrap();
    let mut messages = consumer.messages().await.unwrap();
    let mut received = Vec::new();
    while received.len() < 3 {
        let message = tokio::time::timeout(DEADLINE, messages.next())
            .await
            .expect("the consumer receives the events")
            .unwrap()
            .unwrap();
        let event: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
        received.push(event["event_id"].as_str().unwrap().to_owned());
        message.ack().await.unwrap();
    }
    let mut created: Vec<_> = published
        .iter()
        .filter(|(key, _)| key == "order.created")
        .map(|(_, id)| id.clone())
        .collect();
    // Different orders' events may pass each other in the stream; each arrives once.
    received.sort();
    created.sort();
    assert_eq!(received, created);

    // Durable: the same name later resumes after the last ack instead of starting over.
    drop(messages);
    let resumed = stream
        .get_or_create_consumer::<pull::Config>("order-analytics", config)
        .await
        .unwrap();
    test_support::wait_until("the acks to be recorded", DEADLINE, || async {
        let info = resumed.get_info().await.ok()?;
        (info.num_ack_pending == 0 && info.num_pending == 0).then_some(())
    })
    .await;
}
