//! The API gateway, as local runs and tests start it: the real HAProxy with the repository's
//! routes (`gateway/haproxy/routes.cfg`, the same file compose and Nomad mount) and a generated
//! backends file naming the replicas of each service.
//!
//! - [`haproxy_binary`]: where the binary is (Debian's package, installed by `cargo xtask test`
//!   and `cargo xtask cluster` when missing).
//! - [`backends_cfg`]: the per-platform part, the replicas of the routed services.
//! - [`LocalTls`]: the certificate local runs serve, generated once into a directory.
//! - [`Gateway`]: a running HAProxy on loopback, killed by its PID when dropped.
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

/// The HAProxy release compose and Nomad pin; local runs use Debian's package of the same
/// series.
pub const HAPROXY_VERSION: &str = "2.6.12";

/// The routing rules, edge headers, rate limit, retries and health checks, written once for
/// every platform.
pub const ROUTES_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/haproxy/routes.cfg");

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

/// The HAProxy binary: `HAPROXY_BIN` if set, else Debian's `/usr/sbin/haproxy` when present,
/// else `haproxy` on the `PATH`.
pub fn haproxy_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("HAPROXY_BIN") {
        return PathBuf::from(path);
    }
    let debian = Path::new("/usr/sbin/haproxy");
    if debian.exists() {
        debian.to_owned()
    } else {
        PathBuf::from("haproxy")
    }
}

/// One routed service and the base URLs (`http://host:port`) of its replicas. `name` is what
/// the routes call it: `user`, `product`, `order`, `storefront`.
#[derive(Debug, Clone)]
pub struct Backend {
    pub name: &'static str,
    pub urls: Vec<String>,
}

/// The name HAProxy knows replica `index` of `backend` by, in its statistics.
fn server_name(backend: &str, index: usize) -> String {
    format!("{backend}-{}", index + 1)
}

/// The backends file for `backends` (every public backend the routes name, those missing from
/// `backends` without a replica): one `server` per replica, each checked on `/health/ready`
/// every `health_interval` (the rest of the check, the balancing and the retries come from the
/// `replicas` defaults of [`ROUTES_FILE`]); a replica failing its check (draining, a
/// dependency down, or dead) gets no traffic until it passes again.
///
/// Services call each other too (`/validate-token`, `/internal/reservations`). On Docker, DNS
/// spreads those calls over the replicas; locally each backend also gets an entry point
/// `internal-<name>` on `internal_binds` (one address per backend, in order), on a port no
/// client is told about. Every internal call is idempotent (token validation reads;
/// reservations are keyed by their id), so a call that failed on one replica is sent to
/// another whatever its method.
pub fn backends_cfg(
    backends: &[Backend],
    internal_binds: &[SocketAddr],
    health_interval: Duration,
) -> anyhow::Result<String> {
    let interval = health_interval.as_millis().max(1);
    let mut cfg = String::from("# Generated: the replicas behind the gateway.\n");
    for (backend, bind) in backends.iter().zip(internal_binds) {
        let name = backend.name;
        let _ = writeln!(
            cfg,
            "\nfrontend internal-{name} from edge\n    bind {bind}\n    option forwardfor\n    default_backend {name}"
        );
    }
    for name in Service::ALL.into_iter().filter_map(Service::backend) {
        let _ = writeln!(cfg, "\nbackend {name}");
        let Some(backend) = backends.iter().find(|backend| backend.name == name) else {
            // The routes name every public backend; one with no replica answers 503.
            continue;
        };
        for (index, url) in backend.urls.iter().enumerate() {
            let address = url
                .strip_prefix("http://")
                .with_context(|| format!("{url}: a replica is reached over plain http://"))?
                .trim_end_matches('/');
            let _ = writeln!(
                cfg,
                "    server {} {address} inter {interval}ms",
                server_name(backend.name, index)
            );
        }
    }
    Ok(cfg)
}

/// Where a gateway runs: the address its entry points listen on, the address others reach them
/// at, and the program that starts it (nothing, or `ip netns exec NAME`).
#[derive(Debug, Clone)]
pub struct Placement {
    pub listen: IpAddr,
    pub reach: IpAddr,
    /// Put before HAProxy's own command line; empty to run it directly.
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

/// An HAProxy process serving the repository's routes on a loopback port.
#[derive(Debug)]
pub struct Gateway {
    /// `https://127.0.0.1:PORT`, the one public entry point (TLS, the [`LocalTls`] certificate).
    pub url: String,
    pub address: SocketAddr,
    /// `http://127.0.0.1:PORT`: plain HTTP, which only redirects to [`Gateway::url`].
    pub redirect_url: String,
    /// HAProxy's `/ping` and `/stats` (loopback, local runs only): which replicas are up.
    pub admin_url: String,
    /// `(backend name, URL)` of the internal entry points services call each other through.
    pub internal: Vec<(&'static str, String)>,
    /// `(backend, HAProxy's server name, replica URL)` of every replica.
    servers: Vec<(&'static str, String, String)>,
    child: Child,
    config_dir: PathBuf,
}

impl Gateway {
    /// Writes `routes.cfg` (a copy of [`ROUTES_FILE`]), `backends.cfg` and the certificate
    /// (`tls`'s, certificate and key in one file) into `config_dir` and starts HAProxy: the
    /// public HTTPS entry point on `port` (0: a free one), a plain-HTTP entry point that only
    /// redirects to it, one internal entry point per backend and the admin one (`/ping`,
    /// `/stats`) on ports drawn from `free_port` ([`ephemeral_port`], or the tests' allocator
    /// that several processes share); returns once it answers its ping. Its output goes to
    /// `haproxy.log` in `config_dir`.
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
        let routes = config_dir.join("routes.cfg");
        std::fs::copy(ROUTES_FILE, &routes).context("copying routes")?;
        let certificate = config_dir.join("gateway.pem");
        write_private(&certificate, &tls.combined_pem()?)?;
        let listen = placement.listen;
        let port = if port == 0 { free_port()? } else { port };
        let admin_port = free_port()?;
        let redirect_port = free_port()?;
        let mut internal_binds = Vec::new();
        let mut internal = Vec::new();
        for backend in backends {
            let internal_port = free_port()?;
            internal_binds.push(SocketAddr::new(listen, internal_port));
            internal.push((
                backend.name,
                format!("http://{}:{internal_port}", placement.reach),
            ));
        }
        let backends_file = config_dir.join("backends.cfg");
        std::fs::write(
            &backends_file,
            backends_cfg(backends, &internal_binds, health_interval)?,
        )
        .context("writing backends.cfg")?;
        let mut command = placement.command(&haproxy_binary());
        command
            .arg("-db")
            .arg("-f")
            .arg(&routes)
            .arg("-f")
            .arg(&backends_file)
            .env(
                "GATEWAY_WEB_BIND",
                SocketAddr::new(listen, port).to_string(),
            )
            .env(
                "GATEWAY_REDIRECT_BIND",
                SocketAddr::new(listen, redirect_port).to_string(),
            )
            .env("GATEWAY_HTTPS_PORT", port.to_string())
            .env(
                "GATEWAY_ADMIN_BIND",
                SocketAddr::new(listen, admin_port).to_string(),
            )
            .env("GATEWAY_CERT", &certificate);
        let log = config_dir.join("haproxy.log");
        let child = spawn_logged(command, &log)?;
        let reach = placement.reach;
        let address = SocketAddr::new(reach, port);
        let servers = backends
            .iter()
            .flat_map(|backend| {
                backend.urls.iter().enumerate().map(|(index, url)| {
                    (
                        backend.name,
                        server_name(backend.name, index),
                        url.trim_end_matches('/').to_owned(),
                    )
                })
            })
            .collect();
        let mut gateway = Self {
            url: format!("https://{address}"),
            address,
            redirect_url: format!("http://{reach}:{redirect_port}"),
            admin_url: format!("http://{reach}:{admin_port}"),
            internal,
            servers,
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

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// What the gateway's health checks last found for each server of `backend`: its URL and
    /// `UP`, `UNCHECKED` (up before its first check has finished) or `DOWN`, from HAProxy's
    /// statistics.
    pub async fn server_status(&self, backend: &str) -> anyhow::Result<BTreeMap<String, String>> {
        let answer = probe::get(&self.admin_url, "/stats;csv").await?;
        if answer.status != 200 {
            bail!("/stats;csv: {} {}", answer.status, answer.body.trim());
        }
        let states = server_states(&answer.body)?;
        Ok(self
            .servers
            .iter()
            .filter(|(name, _, _)| *name == backend)
            .filter_map(|(_, server, url)| {
                let state = states.get(&(backend.to_owned(), server.clone()))?;
                Some((url.clone(), state.clone()))
            })
            .collect())
    }

    /// How many of `backend`'s servers the gateway currently routes to.
    pub async fn servers_up(&self, backend: &str) -> anyhow::Result<usize> {
        let status = self.server_status(backend).await?;
        Ok(status.values().filter(|state| *state == "UP").count())
    }

    /// Waits until the gateway counts every replica of every one of `backends` up, polling its
    /// statistics; fails after `limit`, saying which backend fell short.
    pub async fn wait_until_routed(
        &self,
        backends: &[Backend],
        limit: Duration,
    ) -> anyhow::Result<()> {
        let started = Instant::now();
        for backend in backends {
            loop {
                let up = self.servers_up(backend.name).await;
                if up.as_ref().is_ok_and(|up| *up == backend.urls.len()) {
                    break;
                }
                if started.elapsed() > limit {
                    let seen = match up {
                        Ok(up) => format!("{up} of {}", backend.urls.len()),
                        Err(error) => format!("none of {} ({error:#})", backend.urls.len()),
                    };
                    bail!(
                        "the gateway sees {seen} {} replicas up after {limit:?}",
                        backend.name
                    );
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(())
    }

    async fn wait_for_ping(&mut self) -> anyhow::Result<()> {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "haproxy exited at start: {status}; its log ended with:\n{}",
                    log_tail(&self.config_dir.join("haproxy.log"), 10)
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
        bail!("haproxy did not answer its ping within 20 s")
    }

    /// Stops HAProxy (SIGKILL to its PID) and waits for it.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// `(backend, server) → UP, UNCHECKED or DOWN` from HAProxy's CSV statistics. A server that is
/// up but failing towards down (`UP 1/2`) still takes traffic, so it counts as up; maintenance
/// and every down state count as down. HAProxy 2.6 starts every server UP before its first
/// health check has finished (`check_status` INI, `* INI` while that check runs): such a
/// server is UNCHECKED, so that a wait for replicas to be up waits for a check that found them
/// so.
fn server_states(csv: &str) -> anyhow::Result<BTreeMap<(String, String), String>> {
    let mut lines = csv.lines();
    let header = lines
        .next()
        .and_then(|line| line.strip_prefix("# "))
        .context("HAProxy's statistics have no header line")?;
    let column = |name: &str| {
        header
            .split(',')
            .position(|column| column == name)
            .with_context(|| format!("HAProxy's statistics have no `{name}` column"))
    };
    let (proxy, server, status) = (column("pxname")?, column("svname")?, column("status")?);
    let check = column("check_status").ok();
    Ok(lines
        .map(|line| line.split(',').collect::<Vec<_>>())
        .filter(|fields| fields.len() > status)
        .filter(|fields| !matches!(fields[server], "FRONTEND" | "BACKEND"))
        .map(|fields| {
            // "* " marks a check under way, as the first one is while nothing answers it.
            let unchecked = check
                .and_then(|check| fields.get(check))
                .is_some_and(|state| state.trim_start_matches("* ") == "INI");
            let state = match fields[status].starts_with("UP") {
                true if unchecked => "UNCHECKED",
                true => "UP",
                false => "DOWN",
            };
            (
                (fields[proxy].to_owned(), fields[server].to_owned()),
                state.to_owned(),
            )
        })
        .collect())
}

/// Starts HAProxy with its output in `log` (appended), or on the terminal when `TEST_LOG` or
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
                "starting {} (`cargo xtask test` installs Debian's haproxy)",
                haproxy_binary().display()
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
    fn backends_name_every_replica_with_its_check_interval_and_internal_entry_points() {
        let cfg = backends_cfg(
            &[Backend {
                name: "user",
                urls: vec!["http://127.0.0.1:1".into(), "http://127.0.0.1:2/".into()],
            }],
            &["127.0.0.1:9".parse().unwrap()],
            Duration::from_millis(500),
        )
        .unwrap();
        assert!(
            cfg.contains("\nbackend user\n    server user-1 127.0.0.1:1 inter 500ms\n    server user-2 127.0.0.1:2 inter 500ms\n"),
            "{cfg}"
        );
        assert!(
            cfg.contains("frontend internal-user from edge\n    bind 127.0.0.1:9\n"),
            "{cfg}"
        );
        assert!(cfg.contains("default_backend user"), "{cfg}");
        assert!(
            cfg.ends_with("\nbackend product\n\nbackend order\n\nbackend storefront\n"),
            "the routes name every public backend: {cfg}"
        );
        let https = backends_cfg(
            &[Backend {
                name: "user",
                urls: vec!["https://127.0.0.1:1".into()],
            }],
            &[],
            Duration::from_millis(500),
        );
        assert!(https.is_err(), "replicas are reached over plain HTTP");
    }

    #[test]
    fn server_states_read_haproxys_statistics_by_column_name() {
        let csv = "# pxname,svname,qcur,status,weight,check_status\n\
                   user,FRONTEND,,OPEN,,\n\
                   user,user-1,0,UP,1,L7OK\n\
                   user,user-2,0,DOWN,1,L4CON\n\
                   user,user-3,0,UP 1/2,1,L7STS\n\
                   user,user-4,0,MAINT,1,L7OK\n\
                   user,user-5,0,UP,1,* INI\n\
                   user,user-6,0,UP,1,INI\n\
                   user,BACKEND,0,UP,2,\n";
        let states = server_states(csv).unwrap();
        let state = |server: &str| states[&("user".to_owned(), server.to_owned())].as_str();
        assert_eq!(state("user-1"), "UP");
        assert_eq!(state("user-2"), "DOWN");
        assert_eq!(
            state("user-3"),
            "UP",
            "failing towards down still takes traffic"
        );
        assert_eq!(state("user-4"), "DOWN");
        assert_eq!(
            state("user-5"),
            "UNCHECKED",
            "up before any check has finished"
        );
        assert_eq!(state("user-6"), "UNCHECKED");
        assert_eq!(states.len(), 6, "no frontend or backend totals: {states:?}");
        assert!(server_states("no header").is_err());
    }
}
