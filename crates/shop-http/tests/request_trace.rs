//! A request's trace through the runtime's middleware, with and without a span of its own.
//!
//! A service is served on loopback (so the caller's `traceparent` is honoured, as a peer's) under
//! a subscriber built like production's (the OpenTelemetry layer and the JSON lines) plus a
//! layer counting request spans. Its one route logs a line and calls a stand-in downstream
//! service through [`HttpClient`]; the stand-in keeps the `traceparent` it was sent.
//!
//! The subscriber is the thread's default and the runtime has one thread, so it sees the
//! server's tasks and nothing of other tests.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use salvo::prelude::*;
use serde_json::Value;
use shop_config::{CommonConfig, ServiceInfo};
use shop_http::health::Health;
use shop_http::http_client::HttpClient;
use shop_http::server::{self, ServiceParts, route};
use shop_telemetry::metrics::Metrics;
use shop_telemetry::request_trace::RequestTracing;
use tracing::span;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::{Layer, Registry};

const INFO: ServiceInfo = ServiceInfo {
    name: "traced-service",
    version: "0",
    description: "",
};
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLERS_SPAN: &str = "00f067aa0ba902b7";

/// Counts the request spans the middleware opens.
#[derive(Clone, Default)]
struct RequestSpans(Arc<AtomicUsize>);

impl<S: tracing::Subscriber> Layer<S> for RequestSpans {
    fn on_new_span(&self, attrs: &span::Attributes<'_>, _: &span::Id, _: Context<'_, S>) {
        if attrs.metadata().name() == "http.request" {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// The log lines written, as the JSON format writes them.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl Lines {
    fn parsed(&self) -> Vec<Value> {
        let bytes = self.0.lock().unwrap();
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(|line| serde_json::from_str(line).expect("a JSON line"))
            .collect()
    }
}

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Lines {
    type Writer = Self;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Keeps the `traceparent` of every request it answers.
#[derive(Clone, Default)]
struct Downstream(Arc<Mutex<Vec<String>>>);

#[async_trait]
impl Handler for Downstream {
    async fn handle(&self, req: &mut Request, _: &mut Depot, res: &mut Response, _: &mut FlowCtrl) {
        let traceparent = req.header::<String>("traceparent").unwrap_or_default();
        self.0.lock().unwrap().push(traceparent);
        res.render("ok");
    }
}

/// The service's route: a log line, then a call downstream.
struct LogAndCall {
    client: HttpClient,
    downstream: String,
}

#[async_trait]
impl Handler for LogAndCall {
    async fn handle(&self, _: &mut Request, _: &mut Depot, res: &mut Response, _: &mut FlowCtrl) {
        tracing::info!("calling downstream");
        let request = self
            .client
            .inner()
            .get(&self.downstream)
            .build()
            .expect("request");
        let status = self.client.send(request).await.map(|r| r.status());
        res.render(format!("{status:?}"));
    }
}

struct Traced {
    url: String,
    downstream: Downstream,
    request_spans: RequestSpans,
    lines: Lines,
    _subscriber: tracing::subscriber::DefaultGuard,
}

/// A service whose requests are traced as `tracing` says, exporting nothing either way.
async fn serve(tracing: RequestTracing) -> Traced {
    server::install_crypto_provider();
    shop_telemetry::install_propagator();
    let provider = shop_telemetry::tracer_provider(INFO, &CommonConfig::default()).unwrap();
    let request_spans = RequestSpans::default();
    let lines = Lines::default();
    let subscriber = Registry::default()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer(INFO.name)))
        .with(request_spans.clone())
        .with(
            tracing_subscriber::fmt::layer()
                .event_format(shop_telemetry::JsonLines::new(INFO.name))
                .with_writer(lines.clone())
                .with_filter(tracing_subscriber::filter::LevelFilter::INFO),
        );
    let guard = tracing::subscriber::set_default(subscriber);

    let downstream = Downstream::default();
    let acceptor = server::bind([127, 0, 0, 1].into(), 0).await.unwrap();
    let downstream_url = format!("http://{}/", server::local_addr(&acceptor));
    tokio::spawn(Server::new(acceptor).serve(Router::new().get(downstream.clone())));

    let service = server::build_service(ServiceParts {
        info: INFO,
        api: route("/call").get(LogAndCall {
            client: HttpClient::new("downstream", Duration::from_secs(5)).unwrap(),
            downstream: downstream_url,
        }),
        health: Health::new(INFO, Vec::new()),
        metrics: Metrics::new(),
        max_body_bytes: 1024,
        tracing,
    });
    let acceptor = server::bind([127, 0, 0, 1].into(), 0).await.unwrap();
    let url = format!("http://{}/call", server::local_addr(&acceptor));
    tokio::spawn(Server::new(acceptor).serve(service));
    Traced {
        url,
        downstream,
        request_spans,
        lines,
        _subscriber: guard,
    }
}

fn tracing_with_export(endpoint: Option<&str>) -> RequestTracing {
    RequestTracing::from_config(&CommonConfig {
        otel_exporter_otlp_endpoint: endpoint.map(str::to_owned),
        ..CommonConfig::default()
    })
}

impl Traced {
    /// Calls the route, with `traceparent` if given; returns what the downstream call carried.
    async fn call(&self, traceparent: Option<String>) -> String {
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let mut request = client.get(&self.url);
        if let Some(traceparent) = traceparent {
            request = request.header("traceparent", traceparent);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        let sent = self.downstream.0.lock().unwrap();
        sent.last().cloned().expect("the downstream call")
    }

    /// The line the route logged last.
    fn route_line(&self) -> Value {
        self.lines
            .parsed()
            .into_iter()
            .rfind(|line| line["message"] == "calling downstream")
            .expect("the route's log line")
    }

    fn request_spans(&self) -> usize {
        self.request_spans.0.load(Ordering::SeqCst)
    }
}

/// `traceparent` split into its version, trace id, parent id and flags.
fn parts(traceparent: &str) -> Vec<&str> {
    traceparent.split('-').collect()
}

#[tokio::test(flavor = "current_thread")]
async fn without_export_a_request_gets_no_span_and_keeps_its_callers_trace() {
    let service = serve(tracing_with_export(None)).await;
    for flags in ["00", "01"] {
        let sent = service
            .call(Some(format!("00-{TRACE_ID}-{CALLERS_SPAN}-{flags}")))
            .await;
        let sent = parts(&sent);
        assert_eq!(sent[1], TRACE_ID, "the call downstream continues the trace");
        assert_eq!(sent[3], flags, "the sampled flag is passed on as it came");
        assert_ne!(
            sent[2], CALLERS_SPAN,
            "the request has a span id of its own"
        );
        let line = service.route_line();
        assert_eq!(line["trace_id"], TRACE_ID, "{line}");
    }
    assert_eq!(service.request_spans(), 0, "no request span without export");
}

#[tokio::test(flavor = "current_thread")]
async fn a_new_trace_without_a_span_is_the_same_in_logs_and_calls() {
    let service = serve(tracing_with_export(None)).await;
    let sent = service.call(None).await;
    let sent = parts(&sent);
    let line = service.route_line();
    assert_eq!(sent[1].len(), 32);
    assert_eq!(line["trace_id"], sent[1], "{line}");
    assert_eq!(line["span_id"].as_str().map(str::len), Some(16), "{line}");
    assert_eq!(service.request_spans(), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn an_unsampled_request_gets_no_span_even_with_export_on() {
    let service = serve(tracing_with_export(Some("http://127.0.0.1:9"))).await;
    let sent = service
        .call(Some(format!("00-{TRACE_ID}-{CALLERS_SPAN}-00")))
        .await;
    assert_eq!(parts(&sent)[1], TRACE_ID);
    assert_eq!(parts(&sent)[3], "00");
    assert_eq!(service.route_line()["trace_id"], TRACE_ID);
    assert_eq!(service.request_spans(), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn a_sampled_request_with_export_on_keeps_its_span() {
    let service = serve(tracing_with_export(Some("http://127.0.0.1:9"))).await;
    let sent = service
        .call(Some(format!("00-{TRACE_ID}-{CALLERS_SPAN}-01")))
        .await;
    assert_eq!(parts(&sent)[1], TRACE_ID);
    assert_eq!(parts(&sent)[3], "01");
    let line = service.route_line();
    assert_eq!(line["trace_id"], TRACE_ID);
    assert_eq!(
        line["span"], "http.request",
        "logged inside the request's span"
    );
    assert_eq!(service.request_spans(), 1);
}
