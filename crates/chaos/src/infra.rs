//! The run's own PostgreSQL, Redis, RabbitMQ and NATS, each started inside its host's namespace
//! and listening on its addresses there; never the machine's shared instances. Their data lives
//! in the run's directory, so a broker killed by a fault is started again with what it stored.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::net::TcpStream;

use crate::lab::{Host, Lab, run};
use crate::process::Supervised;

/// How long a server may take to accept connections before the run gives up: far above what
/// any needs on an idle machine, since twenty processes share two cores.
const BOOT_GUARD: Duration = Duration::from_secs(240);

/// One server process of the run, in its host's namespace, restartable with the same data.
#[derive(Debug)]
pub struct Server {
    pub host: Host,
    pub port: u16,
    directory: PathBuf,
    kind: Kind,
    process: Supervised,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Postgres,
    Redis,
    RabbitMq,
    Nats,
}

/// The broker's one user (production refuses `guest`).
pub const RABBITMQ_USER: &str = "chaos";
pub const RABBITMQ_PASSWORD: &str = "chaos-run-password";

impl Server {
    pub async fn postgres(root: &Path) -> anyhow::Result<Self> {
        Self::start_new(root, Host::Postgres, 5432, Kind::Postgres).await
    }

    pub async fn redis(root: &Path) -> anyhow::Result<Self> {
        Self::start_new(root, Host::Redis, 6379, Kind::Redis).await
    }

    pub async fn rabbitmq(root: &Path) -> anyhow::Result<Self> {
        Self::start_new(root, Host::RabbitMq, 5672, Kind::RabbitMq).await
    }

    pub async fn nats(root: &Path) -> anyhow::Result<Self> {
        Self::start_new(root, Host::Nats, 4222, Kind::Nats).await
    }

    async fn start_new(root: &Path, host: Host, port: u16, kind: Kind) -> anyhow::Result<Self> {
        let directory = root.join(host.name());
        std::fs::create_dir_all(&directory)?;
        let mut server = Self {
            host,
            port,
            directory,
            kind,
            process: Supervised::new(true),
        };
        server.prepare()?;
        server.start().await?;
        Ok(server)
    }

    /// Where a client in any namespace reaches it.
    pub fn address(&self) -> SocketAddr {
        SocketAddr::from((self.host.address(), self.port))
    }

    pub fn pid(&self) -> Option<u32> {
        self.process.pid()
    }

    fn path(&self, name: &str) -> String {
        self.directory.join(name).display().to_string()
    }

    /// Writes what the server needs before its first start.
    fn prepare(&self) -> anyhow::Result<()> {
        match self.kind {
            Kind::Postgres => {
                let data = self.path("data");
                run("chown", &["postgres:postgres", &self.path("")])?;
                run(
                    "runuser",
                    &[
                        "-u",
                        "postgres",
                        "--",
                        &format!("{PG_BIN}/initdb"),
                        "-A",
                        "trust",
                        "-U",
                        "postgres",
                        "-D",
                        &data,
                    ],
                )?;
                // Trust on the run's subnet only: it exists inside this run's namespaces alone.
                std::fs::write(
                    self.directory.join("data/pg_hba.conf"),
                    "local all all trust\nhost all all 10.77.0.0/24 trust\n",
                )?;
            }
            Kind::RabbitMq => {
                std::fs::create_dir_all(self.directory.join("mnesia"))?;
                std::fs::create_dir_all(self.directory.join("log"))?;
                std::fs::write(self.directory.join("plugins"), "[].\n")?;
                std::fs::write(
                    self.directory.join("rabbitmq.conf"),
                    format!(
                        "listeners.tcp.default = 0.0.0.0:{}\n\
                         default_user = {RABBITMQ_USER}\n\
                         default_pass = {RABBITMQ_PASSWORD}\n\
                         loopback_users = none\n",
                        self.port
                    ),
                )?;
            }
            Kind::Redis | Kind::Nats => {}
        }
        Ok(())
    }

    /// Starts the process and waits until it accepts connections.
    pub async fn start(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.directory.join("server.log"))?;
        let mut command = match self.kind {
            Kind::Postgres => {
                let mut command = Lab::command(self.host, "runuser");
                command.args([
                    "-u",
                    "postgres",
                    "--",
                    &format!("{PG_BIN}/postgres"),
                    "-D",
                    &self.path("data"),
                    "-p",
                    &self.port.to_string(),
                    "-k",
                    &self.path(""),
                    "-c",
                    "listen_addresses=*",
                    "-c",
                    "fsync=off",
                    "-c",
                    "max_connections=300",
                ]);
                command
            }
            Kind::Redis => {
                let mut command = Lab::command(self.host, "redis-server");
                command.args([
                    "--port",
                    &self.port.to_string(),
                    "--bind",
                    "0.0.0.0",
                    "--protected-mode",
                    "no",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ]);
                command
            }
            Kind::Nats => {
                let mut command = Lab::command(self.host, "nats-server");
                command.args([
                    "-a",
                    "0.0.0.0",
                    "-p",
                    &self.port.to_string(),
                    "-js",
                    "-sd",
                    &self.path("jetstream"),
                ]);
                command
            }
            Kind::RabbitMq => {
                let mut command = Lab::command(self.host, rabbitmq_program());
                command
                    .env("RABBITMQ_NODENAME", "chaos@localhost")
                    .env("RABBITMQ_NODE_PORT", self.port.to_string())
                    .env(
                        "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS",
                        "+sbwt none +sbwtdcpu none +sbwtdio none",
                    )
                    .env("RABBITMQ_MNESIA_BASE", self.path("mnesia"))
                    .env("RABBITMQ_LOG_BASE", self.path("log"))
                    .env("RABBITMQ_ENABLED_PLUGINS_FILE", self.path("plugins"))
                    .env("RABBITMQ_CONFIG_FILE", self.path("rabbitmq"))
                    .env("ERL_CRASH_DUMP", self.path("erl_crash.dump"));
                command
            }
        };
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            // A group of its own: ending it ends what the program started (the Erlang VM,
            // the postmaster under runuser).
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting the {} server", self.host.name()))?;
        self.process.started(child);
        self.wait_until_accepting().await
    }

    async fn wait_until_accepting(&mut self) -> anyhow::Result<()> {
        let started = Instant::now();
        let address = self.address();
        loop {
            if let Ok(Ok(_)) =
                tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(address)).await
            {
                return Ok(());
            }
            if let Some(status) = self.process.exit_status() {
                bail!(
                    "the {} server exited ({status}) while starting; see {}",
                    self.host.name(),
                    self.directory.join("server.log").display()
                );
            }
            if started.elapsed() > BOOT_GUARD {
                bail!(
                    "the {} server did not accept connections within {BOOT_GUARD:?}",
                    self.host.name()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `kill -SIGNAL` to the server's whole process group.
    pub fn signal(&self, signal: &str) -> anyhow::Result<()> {
        self.process.signal(signal)
    }

    /// SIGKILL to the group, and waits for the process to be gone.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        self.process.kill().await
    }

    /// Ends the server for good at the end of the run: a clean stop where one exists.
    pub async fn stop(mut self) {
        if self.kind == Kind::Postgres {
            let _ = run(
                "runuser",
                &[
                    "-u",
                    "postgres",
                    "--",
                    &format!("{PG_BIN}/pg_ctl"),
                    "-D",
                    &self.path("data"),
                    "-m",
                    "immediate",
                    "stop",
                ],
            );
        }
        let _ = self.kill().await;
    }
}

/// PostgreSQL binaries of the machine's server package.
const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// Debian's wrapper switches user through `su` and leaves the process group; the script it
/// wraps runs the node as the caller, in the group started here.
fn rabbitmq_program() -> &'static str {
    const DEBIAN: &str = "/usr/lib/rabbitmq/bin/rabbitmq-server";
    if Path::new(DEBIAN).exists() {
        DEBIAN
    } else {
        "rabbitmq-server"
    }
}
