//! A private RabbitMQ node on random ports with the `rabbitmq_prometheus` plugin, for tests
//! that need what the shared broker does not offer (its metrics endpoint) or must not touch it.
//! Started from Debian's `rabbitmq-server` in a process group of its own and killed by that
//! group's id when the value is dropped; its data lives in a temporary directory.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::process::{Child, Command};

use crate::free_port;

#[derive(Debug)]
pub struct PrivateRabbitMq {
    pub amqp_port: u16,
    /// `rabbitmq_prometheus`: `/metrics` and `/metrics/detailed` on this port.
    pub metrics_port: u16,
    /// The node's only user, created at its first boot: production refuses `guest`.
    user: String,
    password: String,
    directory: PathBuf,
    child: Child,
}

/// Debian's `/usr/sbin/rabbitmq-server` switches to the `rabbitmq` user through `su`, which puts
/// the node in a session of its own that dropping the handle would not reach; the script it
/// wraps runs the node as the current user, in the group this test starts.
fn server_program() -> &'static str {
    const DEBIAN: &str = "/usr/lib/rabbitmq/bin/rabbitmq-server";
    if std::path::Path::new(DEBIAN).exists() {
        DEBIAN
    } else {
        "rabbitmq-server"
    }
}

/// How long a booting node may take before the test calls it hung: far above the few seconds
/// it needs on an idle machine, because a whole test run shares the two cores with it.
const BOOT_GUARD: Duration = Duration::from_secs(240);

impl PrivateRabbitMq {
    /// Starts the node and waits until both AMQP and the metrics endpoint accept connections
    /// (a few seconds on two cores). A node that dies while booting fails the test at once with
    /// the end of its console output, unless a port it was given turned out to be taken, in which
    /// case it is started again on fresh ports.
    pub async fn start() -> Self {
        const ATTEMPTS: usize = 3;
        for _ in 0..ATTEMPTS {
            if let Some(node) = Self::boot().await {
                return node;
            }
        }
        panic!("the private RabbitMQ node found a port taken {ATTEMPTS} times in a row");
    }

    /// One attempt: the node once it accepts connections, or `None` when a port drawn for it
    /// was taken before the node could listen there (worth a new draw).
    async fn boot() -> Option<Self> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let (amqp_port, dist_port, metrics_port) = (free_port(), free_port(), free_port());
        let directory = std::env::temp_dir().join(format!("test-rabbitmq-{id}"));
        std::fs::create_dir_all(directory.join("mnesia")).expect("a temporary directory");
        std::fs::create_dir_all(directory.join("log")).expect("a temporary directory");
        std::fs::write(directory.join("plugins"), "[rabbitmq_prometheus].\n").unwrap();
        // The default user replaces `guest` on a fresh node, with all rights on vhost `/`.
        let user = format!("test-{}", &id[..12]);
        let password = uuid::Uuid::new_v4().simple().to_string();
        std::fs::write(
            directory.join("rabbitmq.conf"),
            format!(
                "listeners.tcp.default = 127.0.0.1:{amqp_port}\n\
                 prometheus.tcp.ip = 127.0.0.1\n\
                 prometheus.tcp.port = {metrics_port}\n\
                 default_user = {user}\n\
                 default_pass = {password}\n"
            ),
        )
        .unwrap();
        let path = |name: &str| directory.join(name).display().to_string();
        // The console says why a boot failed ("BOOT FAILED" and the reason); kept for the panic.
        let console = std::fs::File::create(directory.join("console.log")).unwrap();
        let child = Command::new(server_program())
            .env("RABBITMQ_NODENAME", format!("test-{id}@localhost"))
            .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
            .env("RABBITMQ_NODE_PORT", amqp_port.to_string())
            .env("RABBITMQ_DIST_PORT", dist_port.to_string())
            // Erlang distribution on loopback too. Idle schedulers sleep instead of spinning
            // (`+sbwt none`): on two cores shared by a whole test run, a node that spins while it
            // waits for work takes the cores from the tests that would give it some.
            .env(
                "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS",
                "-kernel inet_dist_use_interface {127,0,0,1} +sbwt none +sbwtdcpu none +sbwtdio none",
            )
            .env("RABBITMQ_MNESIA_BASE", path("mnesia"))
            .env("RABBITMQ_LOG_BASE", path("log"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", path("plugins"))
            .env("RABBITMQ_CONFIG_FILE", path("rabbitmq"))
            // A VM that fails to boot writes a crash dump, by default into the working
            // directory: the test's crate. Into the node's directory, gone with it, instead.
            .env("ERL_CRASH_DUMP", path("erl_crash.dump"))
            .stdin(Stdio::null())
            .stdout(console.try_clone().unwrap())
            .stderr(console)
            // Its own group, so that dropping it ends the Erlang VM the script starts as well.
            .process_group(0)
            .spawn()
            .expect("rabbitmq-server is installed");
        let mut node = Self {
            amqp_port,
            metrics_port,
            user,
            password,
            directory,
            child,
        };
        let started = std::time::Instant::now();
        loop {
            if node.accepts_connections().await {
                // Shown with a failing test's output: how long the node held it up.
                eprintln!("private RabbitMQ node up after {:?}", started.elapsed());
                return Some(node);
            }
            if let Ok(Some(status)) = node.child.try_wait() {
                let console = node.console_tail();
                if console.contains("eaddrinuse") {
                    return None;
                }
                panic!("the private RabbitMQ node exited ({status}) while booting:\n{console}");
            }
            assert!(
                started.elapsed() < BOOT_GUARD,
                "the private RabbitMQ node did not come up within {BOOT_GUARD:?}:\n{}",
                node.console_tail()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn accepts_connections(&self) -> bool {
        for port in [self.amqp_port, self.metrics_port] {
            let address = SocketAddr::from(([127, 0, 0, 1], port));
            if TcpStream::connect(address).await.is_err() {
                return false;
            }
        }
        true
    }

    /// The last lines the node printed.
    fn console_tail(&self) -> String {
        let console =
            std::fs::read_to_string(self.directory.join("console.log")).unwrap_or_default();
        let lines: Vec<&str> = console.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    pub fn amqp_url(&self) -> String {
        format!(
            "amqp://{}:{}@127.0.0.1:{}/%2f",
            self.user, self.password, self.amqp_port
        )
    }

    pub fn metrics_address(&self) -> String {
        format!("127.0.0.1:{}", self.metrics_port)
    }
}

impl Drop for PrivateRabbitMq {
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            // The group this node was started in, by its id: nothing else is in it.
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .status();
        }
        let _ = std::fs::remove_dir_all(&self.directory);
    }
}
