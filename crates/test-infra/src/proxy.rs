//! A TCP proxy a test can cut: the way to make a shared dependency (PostgreSQL, Redis, RabbitMQ,
//! NATS) "go down" for one service without touching the instance everyone else uses.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Forwards connections from a random local port to `upstream` until cut.
#[derive(Debug)]
pub struct TcpProxy {
    pub address: SocketAddr,
    online: Arc<watch::Sender<bool>>,
    /// While true, what the upstream answers waits in the proxy (requests still go through).
    held: Arc<watch::Sender<bool>>,
    task: tokio::task::JoinHandle<()>,
}

impl TcpProxy {
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("proxy binds a local port");
        let address = listener.local_addr().expect("proxy address");
        let online = Arc::new(watch::channel(true).0);
        let held = Arc::new(watch::channel(false).0);
        let task = tokio::spawn(accept_loop(
            listener,
            upstream,
            online.clone(),
            held.clone(),
        ));
        Self {
            address,
            online,
            held,
            task,
        }
    }

    /// Closes every open connection; new ones are accepted and closed at once, as a crashed
    /// server's port would refuse them.
    pub fn cut(&self) {
        self.online.send_replace(false);
    }

    /// Forwards again.
    pub fn restore(&self) {
        self.online.send_replace(true);
    }

    /// Lets requests reach the upstream but keeps its answers back, as a slow upstream would.
    pub fn hold_answers(&self) {
        self.held.send_replace(true);
    }

    /// Delivers the answers held back, and forwards the next ones at once.
    pub fn release_answers(&self) {
        self.held.send_replace(false);
    }

    /// Replaces host and port of `url` (scheme://[user@]host:port/rest) by the proxy's.
    pub fn rewrite_url(&self, url: &str) -> String {
        let (scheme, rest) = url.split_once("://").expect("url has a scheme");
        let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
        let credentials = authority
            .rsplit_once('@')
            .map(|(credentials, _)| format!("{credentials}@"))
            .unwrap_or_default();
        let path = if path.is_empty() {
            String::new()
        } else {
            format!("/{path}")
        };
        format!("{scheme}://{credentials}{}{path}", self.address)
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.cut();
        self.task.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    upstream: SocketAddr,
    online: Arc<watch::Sender<bool>>,
    held: Arc<watch::Sender<bool>>,
) {
    loop {
        let Ok((inbound, _)) = listener.accept().await else {
            continue;
        };
        if !*online.borrow() {
            drop(inbound);
            continue;
        }
        let mut online_rx = online.subscribe();
        let held_rx = held.subscribe();
        tokio::spawn(async move {
            let Ok(outbound) = TcpStream::connect(upstream).await else {
                return;
            };
            let (from_client, to_client) = inbound.into_split();
            let (from_upstream, to_upstream) = outbound.into_split();
            let requests = forward(from_client, to_upstream, None);
            let answers = forward(from_upstream, to_client, Some(held_rx));
            tokio::select! {
                _ = async { tokio::join!(requests, answers) } => {}
                _ = online_rx.wait_for(|online| !*online) => {}
            }
        });
    }
}

/// Copies one direction until its end, passing the end on; when `held` is given, each chunk
/// waits while it reads true.
async fn forward(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    mut held: Option<watch::Receiver<bool>>,
) {
    let mut buffer = vec![0; 16 * 1024];
    loop {
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        if let Some(held) = &mut held
            && held.wait_for(|held| !*held).await.is_err()
        {
            break;
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}
