//! How an inbound request is traced: with a span of its own only when that span leaves the
//! process.
//!
//! A tracing span per request is most of what the HTTP middleware costs (creating, entering,
//! leaving and closing it; docs/benchmarks.md), and it is worth that only when it is exported.
//! So a request whose trace is exported and sampled gets its span, as it always had; every
//! other request (export off, or not sampled) carries only its W3C context: the trace id, a
//! span id of its own, the sampled flag and `tracestate`. That context is made the current
//! OpenTelemetry context while the request runs, which is where the log formatter and the
//! outgoing-call helpers read it (see [`crate::current_context`]) and where
//! tracing-opentelemetry finds the parent of any span opened inside the request. A log line, a
//! `traceparent` sent on and a message header therefore show the same trace either way.
//!
//! The sampler is the one the tracer provider uses, so the decision is the one the span would
//! have made: a caller's sampled flag is followed, and a new root is sampled at the configured
//! ratio. A new root sampled here is then started by the provider without sampling it again
//! (see [`RequestDecisionSampler`]); otherwise a second draw on the span's own trace id would
//! sample roots at the ratio squared.

use opentelemetry::Context;
use opentelemetry::KeyValue;
use opentelemetry::trace::{
    Link, SpanContext, SpanKind, TraceContextExt, TraceFlags, TraceId, TraceState,
};
use opentelemetry_sdk::trace::{
    IdGenerator, RandomIdGenerator, Sampler, SamplingDecision, SamplingResult, ShouldSample,
};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use shop_config::CommonConfig;

/// Whether a request gets a span, decided per request from the configuration.
#[derive(Debug, Clone)]
pub struct RequestTracing {
    sampler: Sampler,
    /// Spans leave the process (`OTEL_EXPORTER_OTLP_ENDPOINT` is set).
    exported: bool,
    ids: RandomIdGenerator,
}

/// How one request is traced.
#[derive(Debug)]
pub enum RequestTrace {
    /// The request's own span; its parent is already set.
    Span(tracing::Span),
    /// No span: the context to make current while the request runs.
    Context(Context),
}

impl RequestTracing {
    pub fn from_config(config: &CommonConfig) -> Self {
        Self {
            sampler: configured_sampler(config),
            exported: config.otel_exporter_otlp_endpoint.is_some(),
            ids: RandomIdGenerator::default(),
        }
    }

    /// Traces a request that continues `inbound` (the caller's context, when it is trusted)
    /// or starts a new trace. `span` builds the request's span and is called only when the
    /// request gets one.
    pub fn start(
        &self,
        inbound: Option<Context>,
        span: impl FnOnce() -> tracing::Span,
    ) -> RequestTrace {
        let parent = inbound.unwrap_or_default();
        let (parent_trace_id, parent_flags) = {
            let parent_span = parent.span();
            let parent_context = parent_span.span_context();
            parent_context
                .is_valid()
                .then(|| (parent_context.trace_id(), parent_context.trace_flags()))
                .unzip()
        };
        let trace_id = parent_trace_id.unwrap_or_else(|| self.ids.new_trace_id());
        let sampling = self.sampler.should_sample(
            Some(&parent),
            trace_id,
            "http.request",
            &SpanKind::Server,
            &[],
            &[],
        );
        let sampled = sampling.decision == SamplingDecision::RecordAndSample;
        if sampled && self.exported {
            let span = span();
            let parent = if parent_trace_id.is_some() {
                parent
            } else {
                Context::new().with_value(SampledRoot)
            };
            // Fails only without an OpenTelemetry layer, where there is no trace to join.
            let _ = span.set_parent(parent);
            return RequestTrace::Span(span);
        }
        // The flags a span would get under the same decision (the SDK's rule).
        let flags = if sampled {
            parent_flags.unwrap_or_default().with_sampled(true)
        } else {
            TraceFlags::default()
        };
        // Not remote: the id is this request's own, the parent of whatever it calls. (Despite
        // its name, `with_remote_span_context` only stores a span context without a span.)
        let own = SpanContext::new(
            trace_id,
            self.ids.new_span_id(),
            flags,
            false,
            sampling.trace_state,
        );
        RequestTrace::Context(parent.with_remote_span_context(own))
    }
}

/// The sampler of the configuration: the caller's decision when there is one, otherwise
/// `OTEL_TRACES_SAMPLER_ARG` of new traces.
fn configured_sampler(config: &CommonConfig) -> Sampler {
    Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
        config.otel_traces_sampler_arg,
    )))
}

/// The tracer provider's sampler: the configured one, except for a new root that
/// [`RequestTracing`] has already sampled, which is kept.
pub(crate) fn provider_sampler(config: &CommonConfig) -> RequestDecisionSampler {
    RequestDecisionSampler(configured_sampler(config))
}

/// Marks the parent context of a new root [`RequestTracing`] has sampled.
#[derive(Debug, Clone, Copy)]
struct SampledRoot;

/// See [`provider_sampler`].
#[derive(Debug, Clone)]
pub(crate) struct RequestDecisionSampler(Sampler);

impl ShouldSample for RequestDecisionSampler {
    fn should_sample(
        &self,
        parent_context: Option<&Context>,
        trace_id: TraceId,
        name: &str,
        span_kind: &SpanKind,
        attributes: &[KeyValue],
        links: &[Link],
    ) -> SamplingResult {
        let decided_root = parent_context.is_some_and(|parent| {
            !parent.has_active_span() && parent.get::<SampledRoot>().is_some()
        });
        if decided_root {
            return SamplingResult {
                decision: SamplingDecision::RecordAndSample,
                attributes: Vec::new(),
                trace_state: TraceState::default(),
            };
        }
        self.0
            .should_sample(parent_context, trace_id, name, span_kind, attributes, links)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn configured(endpoint: Option<&str>, ratio: f64) -> RequestTracing {
        RequestTracing::from_config(&CommonConfig {
            otel_exporter_otlp_endpoint: endpoint.map(str::to_owned),
            otel_traces_sampler_arg: ratio,
            ..CommonConfig::default()
        })
    }

    fn inbound(flags: &str) -> Context {
        crate::context_from_fields([(
            "traceparent",
            format!("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-{flags}").as_str(),
        )])
    }

    fn context_of(trace: RequestTrace) -> SpanContext {
        match trace {
            RequestTrace::Context(context) => context.span().span_context().clone(),
            RequestTrace::Span(_) => panic!("a span where only a context was expected"),
        }
    }

    #[test]
    fn without_export_no_request_gets_a_span() {
        let tracing = configured(None, 1.0);
        let sampled = context_of(tracing.start(Some(inbound("01")), || unreachable!()));
        assert_eq!(
            sampled.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_ne!(sampled.span_id().to_string(), "00f067aa0ba902b7");
        assert!(sampled.is_sampled(), "the caller's flag is passed on");
        let root = context_of(tracing.start(None, || unreachable!()));
        assert!(root.is_valid());
        assert!(root.is_sampled(), "a new root is sampled at ratio 1");
    }

    #[test]
    fn an_unsampled_request_gets_no_span_but_its_callers_trace() {
        let tracing = configured(Some("http://127.0.0.1:4318"), 1.0);
        let unsampled = context_of(tracing.start(Some(inbound("00")), || unreachable!()));
        assert_eq!(
            unsampled.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert!(!unsampled.is_sampled());
        let never = configured(Some("http://127.0.0.1:4318"), 0.0);
        let root = context_of(never.start(None, || unreachable!()));
        assert!(root.is_valid() && !root.is_sampled());
    }

    #[test]
    fn a_sampled_exported_request_gets_its_span() {
        let tracing = configured(Some("http://127.0.0.1:4318"), 1.0);
        for parent in [Some(inbound("01")), None] {
            let trace = tracing.start(parent, tracing::Span::none);
            assert!(matches!(trace, RequestTrace::Span(_)));
        }
    }

    #[test]
    fn a_root_sampled_by_the_request_layer_is_kept_by_the_provider() {
        let sampler = RequestDecisionSampler(Sampler::TraceIdRatioBased(0.0));
        let decided = Context::new().with_value(SampledRoot);
        let result = sampler.should_sample(
            Some(&decided),
            TraceId::from(7_u128),
            "http.request",
            &SpanKind::Server,
            &[],
            &[],
        );
        assert_eq!(result.decision, SamplingDecision::RecordAndSample);
        let result = sampler.should_sample(
            Some(&Context::new()),
            TraceId::from(7_u128),
            "other",
            &SpanKind::Internal,
            &[],
            &[],
        );
        assert_eq!(result.decision, SamplingDecision::Drop);
    }
}
