//! Trace context across the outbox: captured from the request that writes an event, restored
//! as the parent of the span that publishes it, so one trace runs from the HTTP request to the
//! consumers.

use tracing_opentelemetry::OpenTelemetrySpanExt;
use uuid::Uuid;

/// The W3C trace context stored beside an event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredContext {
    pub traceparent: Option<String>,
    pub tracestate: Option<String>,
}

impl StoredContext {
    /// The context of the current span.
    pub fn current() -> Self {
        let fields = shop_telemetry::current_context_fields();
        let field = |name: &str| {
            fields
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.clone())
        };
        Self {
            traceparent: field("traceparent"),
            tracestate: field("tracestate"),
        }
    }
}

/// The producer span of publishing one event, a child of the stored context.
pub fn publish_span(exchange: &str, event_id: Uuid, stored: &StoredContext) -> tracing::Span {
    let span = tracing::info_span!(
        "outbox.publish",
        otel.kind = "producer",
        messaging.system = "rabbitmq",
        messaging.destination.name = %exchange,
        messaging.message.id = %event_id,
    );
    let parent = shop_telemetry::context_from_fields(
        [
            ("traceparent", stored.traceparent.as_deref()),
            ("tracestate", stored.tracestate.as_deref()),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.map(|value| (name, value))),
    );
    let _ = span.set_parent(parent);
    span
}
