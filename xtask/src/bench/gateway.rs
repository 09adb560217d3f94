//! The gateway's own cost, and the API through it: HAProxy in front of two bare handlers
//! (plain HTTP with one forwarding rule, then HTTPS with the repository's routes and edge rules
//! as deployed), then the same routes in front of two Product Service replicas. Each is
//! compared with the floor below it: the bare handler, then the gateway's own floor; the bench
//! runs their loads in turns with the floor's (`load_tools::in_turns`).

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use gateway::{Backend, Gateway, LocalTls, Service};
use tokio::process::Child;

use super::{free_port, start_bare_floor, start_product_service, wait_for};
use crate::cluster::HEALTH_INTERVAL;

/// The proxies the bench measures, all up at once so that their loads can take turns with the
/// floor's: HAProxy plain in front of two bare handlers, the gateway in front of the same two,
/// and the gateway in front of two Product Service replicas. They own what they started behind
/// them (the bare handlers and the second replica), which stop with them.
pub(super) struct Proxies {
    plain: PlainProxy,
    edge: Gateway,
    api: Gateway,
    behind: Vec<Child>,
}

impl Proxies {
    /// Starts them; `service` is the first Product Service replica, already filled with the
    /// catalogue (a second one starts here).
    pub(super) async fn start(root: &Path, binaries: &Path, service: &str) -> anyhow::Result<Self> {
        let dir = root.join("target/bench-gateway");
        std::fs::create_dir_all(&dir)?;
        let tls = LocalTls::load_or_create(&dir.join("tls"))?;
        let mut behind = Vec::new();
        // Two bare handlers, as the API below has two replicas.
        let mut bare = Vec::new();
        for _ in 0..2 {
            let port = free_port()?;
            behind.push(start_bare_floor(binaries, port)?);
            let url = format!("http://127.0.0.1:{port}");
            wait_for(&format!("{url}/health/ready")).await?;
            bare.push(url);
        }
        let second_port = free_port()?;
        behind.push(start_product_service(binaries, second_port)?);
        let second = format!("http://127.0.0.1:{second_port}");
        wait_for(&format!("{second}/health/ready")).await?;
        let replicas = [service.to_owned(), second];
        Ok(Self {
            plain: PlainProxy::start(&dir.join("plain"), &bare).await?,
            edge: start_gateway(&dir.join("routes-bare"), &bare, &tls).await?,
            api: start_gateway(&dir.join("routes-api"), &replicas, &tls).await?,
            behind,
        })
    }

    /// `path` through plain HAProxy in front of the bare handlers (compare with the bare
    /// handler).
    pub(super) fn plain_url(&self, path: &str) -> String {
        format!("{}{path}", self.plain.url)
    }

    /// `path` through the gateway in front of the bare handlers: the gateway's floor (compare
    /// with the bare handler).
    pub(super) fn gateway_floor_url(&self, path: &str) -> String {
        format!("{}{path}", self.edge.url)
    }

    /// `path` through the gateway in front of the two replicas (compare with the gateway's
    /// floor).
    pub(super) fn api_url(&self, path: &str) -> String {
        format!("{}{path}", self.api.url)
    }

    pub(super) async fn stop(self) {
        self.plain.stop().await;
        self.edge.stop().await;
        self.api.stop().await;
        for mut child in self.behind {
            let _ = child.kill().await;
        }
    }
}

/// The repository's gateway with every routed service's backend on `replicas` (only the
/// catalogue is asked for), once it routes to every one.
async fn start_gateway(dir: &Path, replicas: &[String], tls: &LocalTls) -> anyhow::Result<Gateway> {
    let backends: Vec<Backend> = Service::ALL
        .into_iter()
        .filter_map(Service::backend)
        .map(|name| Backend {
            name,
            urls: replicas.to_vec(),
        })
        .collect();
    let gateway = Gateway::start(
        dir,
        0,
        &backends,
        HEALTH_INTERVAL,
        tls,
        gateway::ephemeral_port,
    )
    .await?;
    gateway
        .wait_until_routed(&backends, Duration::from_secs(30))
        .await?;
    Ok(gateway)
}

/// HAProxy with nothing but one frontend forwarding to `servers` over kept-alive connections,
/// on one thread as the gateway runs: what proxying alone costs, before TLS and rules.
struct PlainProxy {
    url: String,
    child: Child,
}

impl PlainProxy {
    async fn start(dir: &Path, servers: &[String]) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let port = free_port()?;
        let mut config = format!(
            "global\n    nbthread 1\n\
             defaults\n    mode http\n    option http-keep-alive\n    http-reuse safe\n    \
             timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n\
             frontend plain\n    bind 127.0.0.1:{port}\n    default_backend bare\n\
             backend bare\n    balance roundrobin\n"
        );
        for (index, server) in servers.iter().enumerate() {
            let address = server.trim_start_matches("http://");
            config.push_str(&format!("    server bare-{index} {address}\n"));
        }
        let file = dir.join("plain.cfg");
        std::fs::write(&file, config)?;
        let child = tokio::process::Command::new(gateway::haproxy_binary())
            .arg("-db")
            .arg("-f")
            .arg(&file)
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting haproxy")?;
        let url = format!("http://127.0.0.1:{port}");
        wait_for(&format!("{url}/health/ready")).await?;
        Ok(Self { url, child })
    }

    async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
