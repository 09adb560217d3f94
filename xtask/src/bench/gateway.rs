//! The gateway's own cost, and the API through it: HAProxy in front of two bare handlers
//! (plain HTTP with one forwarding rule, then HTTPS with the repository's routes and edge rules
//! as deployed), then the same routes in front of two Product Service replicas. Each is
//! compared with the floor below it: the bare handler, then the gateway's own floor.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use gateway::{Backend, Gateway, LocalTls};
use tokio::process::Child;

use super::load_tools::{Figure, wrk};
use super::{Line, free_port, line, start_bare_floor, start_product_service, wait_for};

/// How often the gateway checks each replica, as the cluster does.
const HEALTH_INTERVAL: Duration = Duration::from_secs(1);

/// Appends the gateway lines to `lines`. `floor` is the bare handler's figure in this run and
/// `service` the first Product Service replica, already filled with the catalogue.
pub(super) async fn measure(
    root: &Path,
    binaries: &Path,
    seconds: u32,
    floor: Figure,
    service: &str,
    lines: &mut Vec<Line>,
    children: &mut Vec<Child>,
) -> anyhow::Result<()> {
    let script = root.join("docs/bench/report.lua");
    let dir = root.join("target/bench-gateway");
    std::fs::create_dir_all(&dir)?;
    let tls = LocalTls::load_or_create(&dir.join("tls"))?;

    // Two bare handlers, as the API below has two replicas.
    let mut bare = Vec::new();
    for _ in 0..2 {
        let port = free_port()?;
        children.push(start_bare_floor(binaries, port)?);
        let url = format!("http://127.0.0.1:{port}");
        wait_for(&format!("{url}/health/ready")).await?;
        bare.push(url);
    }

    let plain = PlainProxy::start(&dir.join("plain"), &bare).await?;
    let proxied = wrk(seconds, &script, format!("{}/products/1", plain.url), &[]).await;
    plain.stop().await;
    lines.push(
        line(
            "HAProxy, plain HTTP, one forwarding rule, 2 bare handlers behind it",
            proxied?,
            Some(("floor", floor)),
        )
        .await,
    );

    let gateway = start_gateway(&dir.join("routes-bare"), &bare, &tls).await?;
    let edge = wrk(seconds, &script, format!("{}/products/1", gateway.url), &[]).await;
    gateway.stop().await;
    let edge = edge?;
    lines.push(
        line(
            "the gateway's floor: HTTPS, our routes and edge rules, 2 bare handlers behind it",
            edge,
            Some(("floor", floor)),
        )
        .await,
    );

    let second_port = free_port()?;
    children.push(start_product_service(binaries, second_port)?);
    let second = format!("http://127.0.0.1:{second_port}");
    wait_for(&format!("{second}/health/ready")).await?;
    let replicas = [service.to_owned(), second];
    let gateway = start_gateway(&dir.join("routes-api"), &replicas, &tls).await?;
    let api = wrk(seconds, &script, format!("{}/products/1", gateway.url), &[]).await;
    gateway.stop().await;
    lines.push(
        line(
            "GET /products/{id} cached, through the gateway, 2 replicas",
            api?,
            Some(("the gateway's floor", edge)),
        )
        .await,
    );
    Ok(())
}

/// The repository's gateway with every routed service's backend on `replicas` (only the
/// catalogue is asked for), once it routes to every one.
async fn start_gateway(dir: &Path, replicas: &[String], tls: &LocalTls) -> anyhow::Result<Gateway> {
    let backends: Vec<Backend> = ["user", "product", "order", "storefront"]
        .into_iter()
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

/// HAProxy with nothing but one frontend forwarding to `servers` over kept-alive connections:
/// what proxying alone costs, before TLS and rules.
struct PlainProxy {
    url: String,
    child: Child,
}

impl PlainProxy {
    async fn start(dir: &Path, servers: &[String]) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let port = free_port()?;
        let mut config = format!(
            "defaults\n    mode http\n    option http-keep-alive\n    http-reuse safe\n    \
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
