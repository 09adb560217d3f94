//! The local infrastructure the services expect: each is probed on its port and, when down,
//! started with the command this machine's packages provide. Nothing is ever stopped here.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::net::TcpStream;
use tokio::process::Command;

pub struct Dependency {
    pub name: &'static str,
    pub port: u16,
    /// Shell command that starts it in the background on a Debian machine with the packages.
    pub start: &'static str,
    /// How long it may take to answer after the start command.
    pub startup: Duration,
}

pub const DEPENDENCIES: [Dependency; 4] = [
    Dependency {
        name: "postgresql",
        port: 5432,
        start: "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
        startup: Duration::from_secs(30),
    },
    Dependency {
        name: "redis",
        port: 6379,
        start: "redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save '' \
                --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log",
        startup: Duration::from_secs(10),
    },
    Dependency {
        name: "rabbitmq",
        port: 5672,
        start: "rabbitmq-server -detached",
        startup: Duration::from_secs(90),
    },
    Dependency {
        name: "nats",
        port: 4222,
        start: "start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server \
                -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log",
        startup: Duration::from_secs(10),
    },
];

async fn answers(port: u16) -> bool {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    matches!(
        tokio::time::timeout(Duration::from_secs(1), TcpStream::connect(address)).await,
        Ok(Ok(_))
    )
}

pub async fn ensure_running() -> anyhow::Result<()> {
    for dependency in &DEPENDENCIES {
        if answers(dependency.port).await {
            println!("infra: {} is up on :{}", dependency.name, dependency.port);
            continue;
        }
        println!("infra: {} is down; starting it", dependency.name);
        let status = Command::new("sh")
            .arg("-c")
            .arg(dependency.start)
            .status()
            .await
            .with_context(|| format!("starting {}", dependency.name))?;
        if !status.success() {
            bail!(
                "could not start {} ({status}); start it yourself: {}",
                dependency.name,
                dependency.start
            );
        }
        let deadline = Instant::now() + dependency.startup;
        while !answers(dependency.port).await {
            if Instant::now() > deadline {
                bail!(
                    "{} did not answer on :{} within {:?}",
                    dependency.name,
                    dependency.port,
                    dependency.startup
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        println!("infra: {} is up on :{}", dependency.name, dependency.port);
    }
    Ok(())
}
