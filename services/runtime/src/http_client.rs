//! Outgoing HTTP with the caller's trace: every request gets a client span and carries that
//! span's W3C `traceparent`, so the callee's spans join the same trace.

use std::time::Duration;

use tracing::Instrument;
use tracing::field::Empty;

/// A reqwest client (connection reuse, timeouts) that traces what it sends.
#[derive(Debug, Clone)]
pub struct HttpClient {
    inner: reqwest::Client,
    /// The service called, e.g. `user-service`; names the spans.
    peer: &'static str,
}

impl HttpClient {
    /// `timeout` bounds a whole request; connecting is bounded by the smaller of it and 1 s.
    pub fn new(peer: &'static str, timeout: Duration) -> anyhow::Result<Self> {
        let inner = reqwest::Client::builder()
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(1)))
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(64)
            .tcp_nodelay(true)
            // A redirect is never part of a call this system makes. Following one would send
            // the body and credentials (the webhook signature, `X-Service-Token`) wherever the
            // other end points, internal addresses included; it is answered as the 3xx it is.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self { inner, peer })
    }

    /// The underlying client, to build requests with.
    pub fn inner(&self) -> &reqwest::Client {
        &self.inner
    }

    /// Sends `request` inside a client span whose context travels in its headers.
    pub async fn send(
        &self,
        mut request: reqwest::Request,
    ) -> Result<reqwest::Response, reqwest::Error> {
        let method = request.method().as_str().to_owned();
        let span = tracing::info_span!(
            "http.client",
            otel.name = %format!("{method} {}", self.peer),
            otel.kind = "client",
            otel.status_code = Empty,
            http.request.method = %method,
            url.full = %request.url(),
            peer.service = self.peer,
            http.response.status_code = Empty,
        );
        span.in_scope(|| crate::telemetry::inject_current_context(request.headers_mut()));
        let outcome = self.inner.execute(request).instrument(span.clone()).await;
        match &outcome {
            Ok(response) => {
                span.record("http.response.status_code", response.status().as_u16());
                if response.status().is_server_error() {
                    span.record("otel.status_code", "ERROR");
                }
            }
            Err(_) => {
                span.record("otel.status_code", "ERROR");
            }
        }
        outcome
    }
}
