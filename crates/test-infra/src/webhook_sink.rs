//! A local HTTP endpoint that records every request: the webhook receiver of tests. It answers
//! a status the test chooses and can hold requests until the test releases them, to keep a
//! notification "in hand" at a chosen moment.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use salvo::conn::Acceptor;
use salvo::http::StatusCode;
use salvo::prelude::*;
use salvo::server::ServerHandle;
use tokio::sync::watch;

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct ReceivedHook {
    /// Lower-case header names.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl ReceivedHook {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("webhook body is JSON")
    }
}

#[derive(Debug)]
struct Shared {
    received: Mutex<Vec<ReceivedHook>>,
    status: AtomicU16,
    /// When set, every request is answered with a 307 to this URL.
    redirect: Mutex<Option<String>>,
    /// While true, requests wait before answering.
    held: watch::Sender<bool>,
}

#[derive(Debug)]
pub struct WebhookSink {
    pub address: SocketAddr,
    /// `http://address/hook`.
    pub url: String,
    shared: Arc<Shared>,
    server: ServerHandle,
}

impl WebhookSink {
    pub async fn start() -> Self {
        let acceptor = TcpListener::new("127.0.0.1:0")
            .try_bind()
            .await
            .expect("webhook sink binds a local port");
        let address = acceptor
            .holdings()
            .first()
            .and_then(|holding| holding.local_addr.clone().into_std())
            .expect("a TCP acceptor has a socket address");
        let shared = Arc::new(Shared {
            received: Mutex::default(),
            status: AtomicU16::new(200),
            redirect: Mutex::default(),
            held: watch::channel(false).0,
        });
        let router = Router::with_path("hook").post(Endpoint(shared.clone()));
        let server = Server::new(acceptor);
        let handle = server.handle();
        tokio::spawn(server.serve(router));
        Self {
            address,
            url: format!("http://{address}/hook"),
            shared,
            server: handle,
        }
    }

    /// The status every following request gets (200 at first).
    pub fn respond_with(&self, status: u16) {
        self.shared.status.store(status, Ordering::Relaxed);
    }

    /// Requests from now on are answered `307 Temporary Redirect` to `location`.
    pub fn redirect_to(&self, location: &str) {
        *self.shared.redirect.lock().expect("sink lock") = Some(location.to_owned());
    }

    /// Requests from now on wait until [`release`](Self::release).
    pub fn hold(&self) {
        self.shared.held.send_replace(true);
    }

    pub fn release(&self) {
        self.shared.held.send_replace(false);
    }

    pub fn received(&self) -> Vec<ReceivedHook> {
        self.shared.received.lock().expect("sink lock").clone()
    }
}

impl Drop for WebhookSink {
    fn drop(&mut self) {
        self.release();
        self.server.stop_graceful(Duration::from_millis(100));
    }
}

struct Endpoint(Arc<Shared>);

#[async_trait]
impl Handler for Endpoint {
    async fn handle(&self, req: &mut Request, _: &mut Depot, res: &mut Response, _: &mut FlowCtrl) {
        let headers = req
            .headers()
            .iter()
            .filter_map(|(name, value)| {
                Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
            })
            .collect();
        let body = req
            .payload()
            .await
            .map(|bytes| bytes.to_vec())
            .unwrap_or_default();
        self.0
            .received
            .lock()
            .expect("sink lock")
            .push(ReceivedHook { headers, body });
        let mut held = self.0.held.subscribe();
        let _ = held.wait_for(|held| !*held).await;
        let redirect = self.0.redirect.lock().expect("sink lock").clone();
        if let Some(location) = redirect {
            res.status_code(StatusCode::TEMPORARY_REDIRECT);
            let _ = res.add_header("location", location, true);
            return;
        }
        let status = StatusCode::from_u16(self.0.status.load(Ordering::Relaxed))
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        res.status_code(status);
    }
}
