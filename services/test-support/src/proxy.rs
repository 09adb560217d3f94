//! A TCP proxy a test can cut: the way to make a shared dependency (PostgreSQL, Redis, RabbitMQ,
//! NATS) "go down" for one service without touching the instance everyone else uses.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Forwards connections from a random local port to `upstream` until cut.
#[derive(Debug)]
pub struct TcpProxy {
    pub address: SocketAddr,
    online: Arc<watch::Sender<bool>>,
    task: tokio::task::JoinHandle<()>,
}

impl TcpProxy {
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("proxy binds a local port");
        let address = listener.local_addr().expect("proxy address");
        let (online, _) = watch::channel(true);
        let online = Arc::new(online);
        let task = tokio::spawn(accept_loop(listener, upstream, online.clone()));
        Self {
            address,
            online,
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
) {
    loop {
        let Ok((mut inbound, _)) = listener.accept().await else {
            continue;
        };
        if !*online.borrow() {
            drop(inbound);
            continue;
        }
        let mut online_rx = online.subscribe();
        tokio::spawn(async move {
            let Ok(mut outbound) = TcpStream::connect(upstream).await else {
                return;
            };
            tokio::select! {
                _ = copy_bidirectional(&mut inbound, &mut outbound) => {}
                _ = online_rx.wait_for(|online| !*online) => {}
            }
        });
    }
}
