//! Outgoing HTTP with the caller's trace: every request gets a client span and carries that
//! span's W3C `traceparent`, so the callee's spans join the same trace.
//!
//! A pooled keep-alive connection can be closed by the other side (its idle timeout, a
//! restart, a load balancer) just as a request is written on it; the request then fails with
//! "connection closed before message completed" although the callee is fine. Such a failure
//! is retried once, on a fresh connection. Every call between the services is idempotent
//! (token validation reads; reservations and their release are keyed by the reservation id),
//! so a request the callee did see is safe to send again.

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
        span.in_scope(|| shop_telemetry::inject_current_context(request.headers_mut()));
        let again = request.try_clone();
        let mut outcome = self.inner.execute(request).instrument(span.clone()).await;
        if let (Err(error), Some(again)) = (&outcome, again)
            && closed_connection(error)
        {
            tracing::debug!(parent: &span, error = %error, "connection closed under the request; retrying once");
            outcome = self.inner.execute(again).instrument(span.clone()).await;
        }
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

/// Whether `error` says the connection went away under the request (as opposed to a timeout,
/// a refused connection or an answer), the case a fresh connection fixes.
fn closed_connection(error: &reqwest::Error) -> bool {
    if error.is_timeout() || error.is_connect() || error.is_status() || error.is_body() {
        return false;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
    while let Some(cause) = source {
        if let Some(hyper) = cause.downcast_ref::<hyper::Error>()
            && (hyper.is_incomplete_message() || hyper.is_canceled() || hyper.is_closed())
        {
            return true;
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::UnexpectedEof
            )
        {
            return true;
        }
        source = cause.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// Reads one request head (the test requests have no body).
    async fn read_head(stream: &mut tokio::net::TcpStream) -> bool {
        let mut head = Vec::new();
        let mut byte = [0_u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match stream.read(&mut byte).await {
                Ok(1) => head.push(byte[0]),
                _ => return false,
            }
        }
        true
    }

    /// A server that answers the first request on a connection with keep-alive, then closes
    /// that connection when the second request arrives on it without answering: exactly what
    /// a client sees when the peer closed a pooled connection it was about to reuse.
    async fn server_dropping_reused_connections() -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    if read_head(&mut stream).await {
                        let _ = stream
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                            .await;
                    }
                    // The second request on this connection is read, then the socket drops.
                    let _ = read_head(&mut stream).await;
                });
            }
        });
        address
    }

    #[tokio::test]
    async fn a_reused_connection_closed_by_the_peer_is_retried_once_on_a_fresh_one() {
        crate::server::install_crypto_provider();
        let address = server_dropping_reused_connections().await;
        let client = HttpClient::new("test", Duration::from_secs(5)).expect("client");
        for attempt in 0..3 {
            let request = client
                .inner()
                .get(format!("http://{address}/"))
                .build()
                .expect("request");
            let response = client.send(request).await;
            assert!(
                response.as_ref().is_ok_and(|r| r.status() == 200),
                "request {attempt}: {response:?}"
            );
            // Read the body so the connection goes back to the pool for the next request.
            let _ = response.expect("response").bytes().await;
        }
    }

    #[tokio::test]
    async fn a_refused_connection_is_not_retried_as_a_closed_one() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        drop(listener);
        crate::server::install_crypto_provider();
        let client = HttpClient::new("test", Duration::from_secs(5)).expect("client");
        let request = client
            .inner()
            .get(format!("http://{address}/"))
            .build()
            .expect("request");
        let error = client.send(request).await.expect_err("nothing listens");
        assert!(error.is_connect());
        assert!(!closed_connection(&error));
    }
}
