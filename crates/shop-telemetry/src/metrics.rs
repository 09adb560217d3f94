//! Prometheus metrics: one registry per process, exposed at `GET /metrics` in the OpenMetrics
//! text format. The runtime registers the HTTP RED metrics and the DB pool gauges; services add
//! their own business metrics through [`Metrics::register`].

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Metric, Registry};
use salvo::http::header::{CONTENT_TYPE, HeaderValue};
use salvo::prelude::*;

/// Labels of one HTTP request: the route *template*, never the raw path, so cardinality stays
/// bounded however many ids clients send.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// Bounded by [`method_label`]; route templates are written in the code: both static, so
    /// recording a request allocates nothing.
    pub method: &'static str,
    pub route: &'static str,
    pub status: u16,
}

/// The `method` label of a request: the standard methods by name, anything else `OTHER`. The
/// method is whatever token a client sends, and every distinct label value is a new series
/// kept for the life of the process, so an unbounded label would be unbounded memory.
pub fn method_label(method: &salvo::http::Method) -> &'static str {
    use salvo::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "OTHER",
    }
}

/// Request latency buckets in seconds: fine below 10 ms where most requests land.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

pub fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// The HTTP server's RED metrics.
#[derive(Debug, Clone)]
pub struct HttpMetrics {
    pub requests: Family<HttpLabels, Counter>,
    pub duration: Family<HttpLabels, Histogram, fn() -> Histogram>,
    pub in_flight: Gauge,
    /// Tells these families apart from another registry's in the per-thread series handles
    /// (tests run several services in one process).
    families: u64,
}

impl HttpMetrics {
    fn new() -> Self {
        static FAMILIES: AtomicU64 = AtomicU64::new(0);
        Self {
            requests: Family::default(),
            duration: Family::new_with_constructor(latency_histogram),
            in_flight: Gauge::default(),
            families: FAMILIES.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// Counts one answered request and records how long it took.
    ///
    /// Every request does this, and a family lookup hashes the labels with SipHash and takes
    /// the family's lock, twice: a tenth of what the runtime adds to a request. A series'
    /// counter and histogram are shared handles, so each worker thread keeps the ones it has
    /// used and finds them again by comparing addresses (method and route labels are static
    /// strings).
    pub fn record(&self, labels: &HttpLabels, seconds: f64) {
        let key = SeriesKey::new(self.families, labels);
        SERIES.with_borrow_mut(|series| {
            if let Some(known) = series.iter().find(|known| known.key == key) {
                known.requests.inc();
                known.duration.observe(seconds);
                return;
            }
            let handles = SeriesHandles {
                key,
                requests: (*self.requests.get_or_create(labels)).clone(),
                duration: (*self.duration.get_or_create(labels)).clone(),
            };
            handles.requests.inc();
            handles.duration.observe(seconds);
            // Past the bound (many registries in one test process) a series is looked up
            // in its families every time instead of growing the list.
            if series.len() < MAX_SERIES_PER_THREAD {
                series.push(handles);
            }
        });
    }
}

/// One request series by identity: the registry's families, the addresses of the static
/// method and route labels, and the status.
#[derive(Clone, Copy, PartialEq, Eq)]
struct SeriesKey {
    families: u64,
    method: (usize, usize),
    route: (usize, usize),
    status: u16,
}

impl SeriesKey {
    fn new(families: u64, labels: &HttpLabels) -> Self {
        let address = |text: &'static str| (text.as_ptr() as usize, text.len());
        Self {
            families,
            method: address(labels.method),
            route: address(labels.route),
            status: labels.status,
        }
    }
}

struct SeriesHandles {
    key: SeriesKey,
    requests: Counter,
    duration: Histogram,
}

/// A service has a few dozen series (route × method × status); the list is scanned.
const MAX_SERIES_PER_THREAD: usize = 256;

thread_local! {
    static SERIES: RefCell<Vec<SeriesHandles>> = const { RefCell::new(Vec::new()) };
}

type ScrapeHook = Box<dyn Fn() + Send + Sync>;

/// The process's registry plus hooks that refresh sampled gauges just before a scrape.
pub struct Metrics {
    registry: Mutex<Registry>,
    scrape_hooks: Mutex<Vec<ScrapeHook>>,
    pub http: HttpMetrics,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::default();
        let http = HttpMetrics::new();
        registry.register(
            "http_requests",
            "HTTP requests handled, by method, route template and status",
            http.requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency, by method, route template and status",
            http.duration.clone(),
        );
        registry.register(
            "http_requests_in_flight",
            "HTTP requests being handled now",
            http.in_flight.clone(),
        );
        Arc::new(Self {
            registry: Mutex::new(registry),
            scrape_hooks: Mutex::new(Vec::new()),
            http,
        })
    }

    /// Adds a metric; call at start-up.
    pub fn register(&self, name: &str, help: &str, metric: impl Metric) {
        self.registry
            .lock()
            .expect("metrics registry poisoned")
            .register(name, help, metric);
    }

    /// Runs `hook` before every scrape, to sample a value such as a pool's size.
    pub fn on_scrape(&self, hook: impl Fn() + Send + Sync + 'static) {
        self.scrape_hooks
            .lock()
            .expect("metrics hooks poisoned")
            .push(Box::new(hook));
    }

    /// The registry in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        for hook in self
            .scrape_hooks
            .lock()
            .expect("metrics hooks poisoned")
            .iter()
        {
            hook();
        }
        let mut text = String::new();
        let registry = self.registry.lock().expect("metrics registry poisoned");
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &registry);
        text
    }
}

/// `GET /metrics`.
#[derive(Debug)]
pub struct MetricsEndpoint(pub Arc<Metrics>);

#[async_trait]
impl Handler for MetricsEndpoint {
    async fn handle(
        &self,
        _req: &mut Request,
        _depot: &mut Depot,
        res: &mut Response,
        _ctrl: &mut FlowCtrl,
    ) {
        res.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        );
        res.body(self.0.encode());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_http_metrics_with_route_label() {
        let metrics = Metrics::new();
        let labels = HttpLabels {
            method: "GET",
            route: "/products/{id}",
            status: 200,
        };
        metrics.http.requests.get_or_create(&labels).inc();
        metrics.http.duration.get_or_create(&labels).observe(0.003);
        let text = metrics.encode();
        assert!(text.contains(
            r#"http_requests_total{method="GET",route="/products/{id}",status="200"} 1"#
        ));
        assert!(text.contains("http_request_duration_seconds_bucket"));
        assert!(text.ends_with("# EOF\n"));
    }

    /// Recording goes to the registry it was asked of, also once a thread keeps handles of
    /// the same series of another registry, and every request is counted.
    #[test]
    fn recorded_requests_land_in_their_own_registry() {
        let first = Metrics::new();
        let second = Metrics::new();
        let labels = HttpLabels {
            method: "GET",
            route: "/products/{id}",
            status: 200,
        };
        for _ in 0..3 {
            first.http.record(&labels, 0.002);
        }
        second.http.record(&labels, 0.002);
        let series = r#"http_requests_total{method="GET",route="/products/{id}",status="200"}"#;
        assert!(first.encode().contains(&format!("{series} 3")));
        assert!(second.encode().contains(&format!("{series} 1")));
        let other_status = HttpLabels {
            status: 404,
            ..labels
        };
        first.http.record(&other_status, 0.001);
        let text = first.encode();
        assert!(text.contains(&format!("{series} 3")));
        assert!(text.contains(
            r#"http_requests_total{method="GET",route="/products/{id}",status="404"} 1"#
        ));
        assert!(text.contains(
            r#"http_request_duration_seconds_count{method="GET",route="/products/{id}",status="404"} 1"#
        ));
    }

    #[test]
    fn unknown_methods_share_one_label() {
        use salvo::http::Method;
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        for made_up in ["BREW", "get", "PROPFIND"] {
            let method = Method::from_bytes(made_up.as_bytes()).unwrap();
            assert_eq!(method_label(&method), "OTHER", "{made_up}");
        }
    }

    #[test]
    fn scrape_hooks_run_before_encoding() {
        let metrics = Metrics::new();
        let gauge = Gauge::<i64>::default();
        metrics.register("sampled", "a sampled value", gauge.clone());
        metrics.on_scrape(move || {
            gauge.set(42);
        });
        assert!(metrics.encode().contains("sampled 42"));
    }
}
