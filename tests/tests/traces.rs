//! Traces end to end, as Jaeger would receive them: this test binary exports its spans over
//! OTLP/HTTP (the exporter the services use) to a local receiver that decodes each
//! `ExportTraceServiceRequest`. One order placed through the in-process stack must give one
//! trace that holds the order request, the User Service's token validation, the Product
//! Service's stock reservation, SQL, the AMQP publish, the Notification Service's consume, and
//! the event bridge's consume and JetStream publish, each linked to its parent.
//!
//! A binary of its own: the exporting tracer is process-wide and must be installed first.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message;
use salvo::prelude::*;
use test_infra::nats_server::PrivateNats;
use test_support::bridge::BridgeHandle;
use test_support::notification::{NotificationServiceHandle, NotificationTopology};
use test_support::{OrderServiceHandle, ProductServiceHandle, UserServiceHandle, wait_until};

/// A span as the receiver got it.
#[derive(Debug, Clone)]
struct ReceivedSpan {
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    name: String,
    kind: SpanKind,
    /// Attribute values as text (strings as they are, integers in decimal).
    attributes: HashMap<String, String>,
    /// `Status.code`: 0 unset, 1 ok, 2 error.
    status_code: i32,
}

/// `POST /v1/traces`: OTLP/HTTP with protobuf bodies, every span kept.
struct Receiver(Arc<Mutex<Vec<ReceivedSpan>>>);

#[async_trait]
impl Handler for Receiver {
    async fn handle(&self, req: &mut Request, _: &mut Depot, res: &mut Response, _: &mut FlowCtrl) {
        let body = req
            .payload()
            .await
            .map(|bytes| bytes.to_vec())
            .unwrap_or_default();
        let Ok(request) = ExportTraceServiceRequest::decode(body.as_slice()) else {
            res.status_code(StatusCode::BAD_REQUEST);
            return;
        };
        let spans = request
            .resource_spans
            .iter()
            .flat_map(|resource| &resource.scope_spans)
            .flat_map(|scope| &scope.spans)
            .map(|span| ReceivedSpan {
                trace_id: hex(&span.trace_id),
                span_id: hex(&span.span_id),
                parent_span_id: hex(&span.parent_span_id),
                name: span.name.clone(),
                kind: SpanKind::try_from(span.kind).unwrap_or(SpanKind::Unspecified),
                attributes: span
                    .attributes
                    .iter()
                    .map(|attribute| (attribute.key.clone(), attribute_text(attribute)))
                    .collect(),
                status_code: span.status.as_ref().map_or(0, |status| status.code),
            });
        self.0.lock().unwrap().extend(spans);
        res.add_header("content-type", "application/x-protobuf", true)
            .unwrap();
        res.body(ExportTraceServiceResponse::default().encode_to_vec());
    }
}

fn attribute_text(attribute: &KeyValue) -> String {
    match attribute
        .value
        .as_ref()
        .and_then(|value| value.value.as_ref())
    {
        Some(any_value::Value::StringValue(text)) => text.clone(),
        Some(any_value::Value::IntValue(number)) => number.to_string(),
        other => format!("{other:?}"),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The spans of one trace, with lookups by name and ancestry.
struct Trace<'a> {
    spans: Vec<&'a ReceivedSpan>,
    by_id: HashMap<&'a str, &'a ReceivedSpan>,
}

impl<'a> Trace<'a> {
    fn new(all: &'a [ReceivedSpan], trace_id: &str) -> Self {
        let spans: Vec<&ReceivedSpan> = all
            .iter()
            .filter(|span| span.trace_id == trace_id)
            .collect();
        let by_id = spans
            .iter()
            .map(|span| (span.span_id.as_str(), *span))
            .collect();
        Self { spans, by_id }
    }

    fn find(&self, what: &str, matches: impl Fn(&ReceivedSpan) -> bool) -> &'a ReceivedSpan {
        self.spans
            .iter()
            .copied()
            .find(|span| matches(span))
            .unwrap_or_else(|| panic!("the trace has no {what}: {:#?}", self.names()))
    }

    fn names(&self) -> Vec<(&str, SpanKind)> {
        self.spans
            .iter()
            .map(|span| (span.name.as_str(), span.kind))
            .collect()
    }

    fn parent(&self, span: &ReceivedSpan) -> Option<&'a ReceivedSpan> {
        self.by_id.get(span.parent_span_id.as_str()).copied()
    }

    /// `span` descends from `ancestor` through spans all present in the trace.
    fn descends_from(&self, span: &ReceivedSpan, ancestor: &ReceivedSpan) -> bool {
        let mut current = self.parent(span);
        while let Some(parent) = current {
            if parent.span_id == ancestor.span_id {
                return true;
            }
            current = self.parent(parent);
        }
        false
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_is_one_trace_from_request_to_notification() {
    let received = Arc::new(Mutex::new(Vec::new()));
    let acceptor = shop_http::server::bind([127, 0, 0, 1].into(), 0)
        .await
        .expect("a local port for the OTLP receiver");
    let endpoint = format!("http://{}", shop_http::server::local_addr(&acceptor));
    let router = Router::with_path("v1/traces").post(Receiver(received.clone()));
    tokio::spawn(Server::new(acceptor).serve(router));
    let provider = test_support::init_exporting_traces(&endpoint);

    let users = UserServiceHandle::start().await;
    let products = ProductServiceHandle::start(&users).await;
    let orders = OrderServiceHandle::start(&users, &products).await;
    let topology = NotificationTopology::unique().with_exchange(&orders.exchange);
    let notifications = NotificationServiceHandle::start(&topology, &[]).await;
    let nats = PrivateNats::start().await;
    let bridge = BridgeHandle::start_mirroring(&orders.exchange, &nats.url(), &[]).await;
    let (_, admin) = users.admin().await;
    let (_, customer) = users.customer().await;
    let product = products.product_with_stock(&admin, "Desk", 3).await;

    orders.place_order(&customer, product, 1).await;
    wait_until("the notification", Duration::from_secs(20), || async {
        (notifications.metric(r#"notifications_handled_total{outcome="delivered"}"#) >= 1.0)
            .then_some(())
    })
    .await;

    wait_until(
        "the event in JetStream",
        Duration::from_secs(20),
        || async {
            (bridge
                .served_metric(r#"bridge_events_mirrored_total{routing_key="order.created"}"#)
                .await
                >= 1.0)
                .then_some(())
        },
    )
    .await;

    let consume = format!("{} process", topology.queue);
    let nats_publish = "events.order.created publish";
    let spans = wait_until(
        "every span of the order's trace to be exported",
        Duration::from_secs(30),
        || async {
            let provider = provider.clone();
            tokio::task::spawn_blocking(move || provider.force_flush())
                .await
                .unwrap()
                .expect("the exporter flushes");
            let spans = received.lock().unwrap().clone();
            let exported = |name: &str| spans.iter().any(|span| span.name == name);
            // A span is exported when it ends, and a parent ends after its children (the
            // request once its response is written, the relay's publish once the broker
            // confirms): on a busy machine consumers can finish first. Wait for every span
            // the checks below look at.
            let awaited = [
                "POST /orders",
                "POST /validate-token",
                "POST /internal/reservations",
                "postgresql INSERT",
                "outbox.publish",
                consume.as_str(),
                "order.created process",
                nats_publish,
            ];
            awaited.into_iter().all(exported).then_some(spans)
        },
    )
    .await;

    let order_request = spans
        .iter()
        .find(|span| span.name == "POST /orders" && span.kind == SpanKind::Server)
        .unwrap_or_else(|| {
            panic!(
                "the order request's span: {:#?}",
                spans.iter().map(|s| (&s.name, s.kind)).collect::<Vec<_>>()
            )
        });
    let trace = Trace::new(&spans, &order_request.trace_id);
    assert!(
        order_request.parent_span_id.is_empty(),
        "the request starts the trace"
    );
    // The semantic-convention attributes of an HTTP server span, the route and status set
    // when the request has been answered.
    for (key, value) in [
        ("http.request.method", "POST"),
        ("url.path", "/orders"),
        ("http.route", "/orders"),
        ("http.response.status_code", "201"),
    ] {
        assert_eq!(
            order_request.attributes.get(key).map(String::as_str),
            Some(value),
            "{key} of the order request's span: {:?}",
            order_request.attributes
        );
    }
    assert_ne!(order_request.status_code, 2, "a 201 is not an error");

    let validate = trace.find("User Service validation", |span| {
        span.name == "POST /validate-token" && span.kind == SpanKind::Server
    });
    let reserve = trace.find("Product Service reservation", |span| {
        span.name == "POST /internal/reservations" && span.kind == SpanKind::Server
    });
    for (call, what) in [(validate, "validation"), (reserve, "reservation")] {
        let client = trace
            .parent(call)
            .unwrap_or_else(|| panic!("the {what} call's client span"));
        assert_eq!(client.kind, SpanKind::Client, "{what}: {client:?}");
        assert!(
            trace.descends_from(call, order_request),
            "{what} is part of the order request"
        );
    }
    let insert = trace.find("SQL INSERT of the order", |span| {
        span.name == "postgresql INSERT" && span.kind == SpanKind::Client
    });
    assert!(trace.descends_from(insert, order_request));
    let publish = trace.find("AMQP publish", |span| {
        span.name == "outbox.publish" && span.kind == SpanKind::Producer
    });
    let consumed = trace.find("notification consume", |span| {
        span.name == consume && span.kind == SpanKind::Consumer
    });
    assert!(
        trace.descends_from(consumed, publish),
        "the consumer continues the publisher's span"
    );
    assert!(
        trace.descends_from(publish, order_request),
        "the outbox relay continues the request that wrote the event"
    );
    let mirrored = trace.find("bridge consume", |span| {
        span.name == "order.created process" && span.kind == SpanKind::Consumer
    });
    assert!(
        trace.descends_from(mirrored, publish),
        "the bridge continues the publisher's span"
    );
    let stored = trace.find("JetStream publish", |span| {
        span.name == nats_publish && span.kind == SpanKind::Producer
    });
    assert!(
        trace.descends_from(stored, mirrored),
        "the JetStream publish is the bridge's"
    );

    bridge.stop().await;
    notifications.stop().await;
    orders.stop().await;
    products.stop().await;
    users.stop().await;
}
