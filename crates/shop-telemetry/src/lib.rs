//! Logs and traces.
//!
//! Every process installs one subscriber: a JSON (or, for local use, human) formatter whose lines
//! carry the OpenTelemetry trace and span id, plus the OpenTelemetry layer. The tracer provider
//! always exists, so ids are generated and propagated even with export off; spans leave the
//! process only when `OTEL_EXPORTER_OTLP_ENDPOINT` is set. [`request_trace`] decides whether an
//! inbound request gets a span or only its trace context; either way the current
//! OpenTelemetry context ([`current_context`]) is the one logs and outgoing calls carry.
#![warn(missing_debug_implementations)]

pub mod metrics;
pub mod request_trace;
pub mod trace_trust;

use std::fmt;

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use salvo::http::HeaderMap;
use salvo::http::header::{HeaderName, HeaderValue};
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use shop_config::ServiceInfo;
use shop_config::{CommonConfig, LogFormat};

/// Flushes and stops the trace exporter when the process ends.
#[derive(Debug)]
pub struct TelemetryGuard {
    provider: SdkTracerProvider,
}

impl TelemetryGuard {
    /// Exports what is still buffered. Call once, after the server has drained.
    pub fn shutdown(self) {
        if let Err(error) = self.provider.shutdown() {
            eprintln!("trace exporter shutdown: {error}");
        }
    }
}

/// Builds the tracer provider: ratio sampling that follows the caller's decision, export over
/// OTLP/HTTP only when an endpoint is configured.
pub fn tracer_provider(
    info: ServiceInfo,
    config: &CommonConfig,
) -> anyhow::Result<SdkTracerProvider> {
    let resource = Resource::builder()
        .with_service_name(info.name)
        .with_attribute(KeyValue::new("service.version", info.version))
        .build();
    let mut builder = SdkTracerProvider::builder()
        .with_resource(resource)
        .with_sampler(request_trace::provider_sampler(config));
    if let Some(endpoint) = config.otel_exporter_otlp_endpoint.as_deref() {
        let endpoint = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(endpoint)
            .build()?;
        builder = builder.with_batch_exporter(exporter);
    }
    Ok(builder.build())
}

/// Installs the global subscriber and W3C propagator. Fails if a subscriber is already set.
pub fn init(info: ServiceInfo, config: &CommonConfig) -> anyhow::Result<TelemetryGuard> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let provider = tracer_provider(info, config)?;
    opentelemetry::global::set_tracer_provider(provider.clone());
    let tracer = provider.tracer(info.name);

    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.log_level))
        .map_err(|error| anyhow::anyhow!("invalid configuration: LOG_LEVEL: {error}"))?;
    let format = match config.log_format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .fmt_fields(NoSpanFields)
            .event_format(JsonLines { service: info.name })
            .boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer().compact().boxed(),
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_opentelemetry::layer()
                .with_tracer(tracer)
                // Busy/idle timing reads the clock on every enter and exit, and the thread
                // attributes copy the thread's name into every span: per-request work nobody
                // reads (a span's duration is its start and end).
                .with_tracked_inactivity(false)
                .with_threads(false),
        )
        .with(format)
        .try_init()?;
    Ok(TelemetryGuard { provider })
}

/// Installs the propagator only; for tests and tools that have no subscriber of their own.
pub fn install_propagator() {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
}

/// The trace context of the code running now: the current span's, or a request's that has no
/// span (see [`request_trace`]).
///
/// The OpenTelemetry layer makes a span's context current whenever the span is entered, so
/// the current OpenTelemetry context covers both cases; it is also cheaper to read than a
/// span's context through the subscriber.
pub fn current_context() -> Context {
    Context::current()
}

/// `future` continuing the current trace wherever it runs: in the current span, if there is
/// one, and under the current context, which is all a request without a span of its own
/// carries. For work a request hands to a task of its own.
pub fn in_current_trace<F: std::future::Future>(
    future: F,
) -> impl std::future::Future<Output = F::Output> {
    use opentelemetry::context::FutureExt as _;
    use tracing::Instrument as _;
    future
        .instrument(tracing::Span::current())
        .with_context(current_context())
}

/// The trace id of the current context, if it belongs to a valid trace.
pub fn current_trace_id() -> Option<String> {
    let context = current_context();
    let span = context.span();
    let span_context = span.span_context();
    span_context
        .is_valid()
        .then(|| span_context.trace_id().to_string())
}

/// The remote context a request or message carries in its `traceparent`/`tracestate` headers.
/// W3C trace context is the only propagation the system speaks (it is also the global
/// propagator [`init`] installs), so the propagator is used directly, without the global's lock.
pub fn extract_context(headers: &HeaderMap) -> Context {
    TraceContextPropagator::new().extract(&HeaderExtractor(headers))
}

/// Writes the current context as `traceparent`/`tracestate` into outgoing headers.
pub fn inject_current_context(headers: &mut HeaderMap) {
    let context = current_context();
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut HeaderInjector(headers));
    });
}

/// The current trace context as plain key/value pairs, for message headers (AMQP, NATS).
pub fn current_context_fields() -> Vec<(String, String)> {
    let context = current_context();
    let mut fields = PairInjector(Vec::new());
    TraceContextPropagator::new().inject_context(&context, &mut fields);
    fields.0
}

/// A remote context from plain key/value pairs, for message headers.
pub fn context_from_fields<'a>(fields: impl IntoIterator<Item = (&'a str, &'a str)>) -> Context {
    let pairs = PairExtractor(fields.into_iter().collect());
    TraceContextPropagator::new().extract(&pairs)
}

struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

struct HeaderInjector<'a>(&'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

struct PairInjector(Vec<(String, String)>);

impl Injector for PairInjector {
    fn set(&mut self, key: &str, value: String) {
        self.0.push((key.to_owned(), value));
    }
}

struct PairExtractor<'a>(Vec<(&'a str, &'a str)>);

impl Extractor for PairExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(key))
            .map(|(_, value)| *value)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(name, _)| *name).collect()
    }
}

/// One JSON object per line: timestamp, level, service, message, the event's fields, and the
/// trace and span id that link the line to its trace. Public so that tests can capture a
/// service's lines exactly as production writes them.
#[derive(Debug, Clone, Copy)]
pub struct JsonLines {
    service: &'static str,
}

impl JsonLines {
    pub fn new(service: &'static str) -> Self {
        Self { service }
    }
}

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let metadata = event.metadata();
        let mut line = Map::new();
        line.insert(
            "timestamp".into(),
            Value::String(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        );
        line.insert("level".into(), Value::String(metadata.level().to_string()));
        line.insert("service".into(), Value::String(self.service.into()));
        line.insert("target".into(), Value::String(metadata.target().into()));
        event.record(&mut JsonFields(&mut line));
        let span = ctx.lookup_current();
        let context = match &span {
            Some(span) => {
                line.insert("span".into(), Value::String(span.name().into()));
                tracing::dispatcher::get_default(|dispatch| {
                    tracing_opentelemetry::get_otel_context(&span.id(), dispatch)
                })
                // Under a thread-scoped subscriber (`set_default`, as tests use) the dispatcher
                // is busy with this very event and reads as none; the context the
                // OpenTelemetry layer activated when the span was entered is the same one.
                .unwrap_or_else(current_context)
            }
            // A request traced without a span of its own (see `request_trace`).
            None => current_context(),
        };
        let otel_span = context.span();
        let span_context = otel_span.span_context();
        if span_context.is_valid() {
            line.insert(
                "trace_id".into(),
                Value::String(span_context.trace_id().to_string()),
            );
            line.insert(
                "span_id".into(),
                Value::String(span_context.span_id().to_string()),
            );
        }
        let text = serde_json::to_string(&line).map_err(|_| fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

/// The span field formatter of the JSON format: [`JsonLines`] writes an event's own fields and
/// its span's name and ids, never the span's fields, so formatting those into a string on every
/// new span (the fmt layer's default) is work thrown away on every request.
struct NoSpanFields;

impl<'writer> FormatFields<'writer> for NoSpanFields {
    fn format_fields<R: tracing_subscriber::field::RecordFields>(
        &self,
        _writer: Writer<'writer>,
        _fields: R,
    ) -> fmt::Result {
        Ok(())
    }
}

struct JsonFields<'a>(&'a mut Map<String, Value>);

impl Visit for JsonFields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            // Records bridged from the `log` crate: their target is the one that matters, the
            // source location only adds noise.
            "log.target" => {
                self.0.insert("target".into(), Value::String(value.into()));
            }
            "log.file" | "log.module_path" => {}
            name => {
                self.0.insert(name.into(), Value::String(value.into()));
            }
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "log.line" {
            return;
        }
        self.0.insert(field.name().into(), Value::from(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), Value::from(value));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        // The whole cause chain, so one line explains the failure.
        let mut text = value.to_string();
        let mut source = value.source();
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        self.0.insert(field.name().into(), Value::String(text));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().into(), Value::String(format!("{value:?}")));
    }
}

/// A dependency the service can probe.
#[salvo::async_trait]
pub trait DependencyCheck: Send + Sync {
    /// Name in the report, e.g. `database`, `redis`, `rabbitmq`.
    fn name(&self) -> &'static str;
    /// Whether the service is unready while this dependency is down.
    fn required(&self) -> bool {
        true
    }
    /// Ok when usable; the error text goes to the log, never to a client.
    async fn check(&self) -> Result<(), String>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_context_round_trips_through_message_fields() {
        let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let context = context_from_fields([("traceparent", parent)]);
        let span = context.span();
        assert_eq!(
            span.span_context().trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert!(span.span_context().is_remote());
    }

    #[test]
    fn headers_without_traceparent_give_no_valid_parent() {
        install_propagator();
        let context = extract_context(&HeaderMap::new());
        assert!(!context.span().span_context().is_valid());
    }
}
