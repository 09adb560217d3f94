//! The shop as a chaos run deploys it: replica 0 of every service on host-a and replica 1 on
//! host-b, each on its documented port, in the production profile; HAProxy with the
//! repository's routes on the gateway host; the run's own PostgreSQL, Redis, RabbitMQ and NATS.
//!
//! Two links run through a [`LinkProxy`] in the root namespace so that latency and loss can be
//! put on them: the gateway reaches host-a's services through one per port, and host-b's
//! services reach PostgreSQL through one.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use gateway::rolling::ReplicaProcess;
use gateway::{Backend, Gateway, LocalTls, Placement};

use crate::infra::{RABBITMQ_PASSWORD, RABBITMQ_USER, Server};
use crate::lab::{
    BRIDGE_TO_NATS, GATEWAY_TO_HOST_A_PROXY, HOST_B_TO_POSTGRES_PROXY, Host, Lab, ORDER_TO_PRODUCT,
};
use crate::link::LinkProxy;
use crate::process::Supervised;
use crate::schedule::{ReplicaHost, Service};

/// How often the gateway probes each replica's `/health/ready`.
pub const HEALTH_INTERVAL: Duration = Duration::from_secs(1);
/// The gateway's public HTTPS port on its host.
pub const GATEWAY_PORT: u16 = 8080;

/// Names used inside the run's brokers and databases.
pub const EXCHANGE: &str = "order_events";
pub const STREAM: &str = "ORDER_EVENTS";
pub const SUBJECT_PREFIX: &str = "events";

impl ReplicaHost {
    pub fn host(self) -> Host {
        match self {
            Self::A => Host::HostA,
            Self::B => Host::HostB,
        }
    }

    pub fn index(self) -> usize {
        match self {
            Self::A => 0,
            Self::B => 1,
        }
    }
}

/// The secrets of one run, random each time.
#[derive(Debug, Clone)]
pub struct Secrets {
    pub jwt: String,
    pub service_token: String,
    pub admin_username: String,
    pub admin_password: String,
    pub csrf: String,
    pub webhook: String,
}

impl Secrets {
    pub fn generate() -> Self {
        let random = || {
            format!(
                "{}{}",
                uuid::Uuid::new_v4().simple(),
                uuid::Uuid::new_v4().simple()
            )
        };
        Self {
            jwt: random(),
            service_token: random(),
            admin_username: "admin".into(),
            admin_password: random(),
            csrf: random(),
            webhook: random(),
        }
    }
}

/// One replica: a service binary in its host's namespace.
#[derive(Debug)]
pub struct Replica {
    pub service: Service,
    pub host: ReplicaHost,
    program: PathBuf,
    env: Vec<(String, String)>,
    log: PathBuf,
    process: Supervised,
}

impl Replica {
    /// Where the gateway reaches it (host-a's routed replicas through the link proxy).
    pub fn gateway_url(&self) -> String {
        let address = match self.host {
            ReplicaHost::A => GATEWAY_TO_HOST_A_PROXY,
            ReplicaHost::B => self.host.host().address(),
        };
        format!("http://{address}:{}", self.service.port())
    }

    /// Where it serves, inside its host.
    pub fn direct_url(&self) -> String {
        format!(
            "http://{}:{}",
            self.host.host().address(),
            self.service.port()
        )
    }

    pub fn signal(&self, signal: &str) -> anyhow::Result<()> {
        self.process.signal(signal)
    }

    /// SIGKILL, and waits for the process to be gone.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        self.process.kill().await
    }

    /// Whether it exited by itself, with how.
    pub fn exit_status(&mut self) -> Option<String> {
        self.process.exit_status()
    }
}

impl ReplicaProcess for Replica {
    fn name(&self) -> String {
        format!(
            "{} #{} ({})",
            self.service.binary(),
            self.host.index() + 1,
            self.host.host().name()
        )
    }

    fn url(&self) -> String {
        match self.service.backend() {
            Some(_) => self.gateway_url(),
            None => self.direct_url(),
        }
    }

    fn backend(&self) -> Option<&'static str> {
        self.service.backend()
    }

    fn pid(&self) -> Option<u32> {
        self.process.pid()
    }

    async fn exited(&mut self) -> anyhow::Result<()> {
        self.process.exited().await
    }

    fn start(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let program = self.program.display().to_string();
        let child = Lab::command(self.host.host(), &program)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(self.env.iter().map(|(key, value)| (key, value)))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", self.name()))?;
        self.process.started(child);
        Ok(())
    }
}

/// The running shop: servers, replicas, gateway and link proxies.
#[derive(Debug)]
pub struct System {
    pub postgres: Server,
    pub redis: Server,
    pub rabbitmq: Server,
    pub nats: Server,
    pub replicas: Vec<Replica>,
    pub gateway: Gateway,
    /// The gateway → host-a proxies, one per routed port.
    pub gateway_to_host_a: Vec<LinkProxy>,
    pub host_b_to_postgres: LinkProxy,
    pub secrets: Secrets,
    pub tls: LocalTls,
}

impl System {
    /// Starts everything and waits until the gateway routes to every replica.
    pub async fn start(run_dir: &Path, binaries: &Path, webhook_url: &str) -> anyhow::Result<Self> {
        let (postgres, redis, rabbitmq, nats) = tokio::try_join!(
            Server::postgres(run_dir),
            Server::redis(run_dir),
            Server::rabbitmq(run_dir),
            Server::nats(run_dir),
        )?;
        let host_b_to_postgres = LinkProxy::start(
            SocketAddr::from((HOST_B_TO_POSTGRES_PROXY, postgres.port)),
            postgres.address(),
        )
        .await
        .context("the host-b → postgres proxy")?;
        let mut gateway_to_host_a = Vec::new();
        for service in Service::ALL.into_iter().filter(|s| s.backend().is_some()) {
            let proxy = LinkProxy::start(
                SocketAddr::from((GATEWAY_TO_HOST_A_PROXY, service.port())),
                SocketAddr::from((Host::HostA.address(), service.port())),
            )
            .await
            .context("a gateway → host-a proxy")?;
            gateway_to_host_a.push(proxy);
        }
        let secrets = Secrets::generate();
        let tls = LocalTls::load_or_create(&run_dir.join("tls"))?;
        let mut replicas: Vec<Replica> = [ReplicaHost::A, ReplicaHost::B]
            .into_iter()
            .flat_map(|host| Service::ALL.map(|service| (service, host)))
            .map(|(service, host)| Replica {
                service,
                host,
                program: binaries.join(service.binary()),
                env: Vec::new(),
                log: run_dir.join(format!("{}-{}.log", service.binary(), host.host().name())),
                process: Supervised::new(false),
            })
            .collect();
        let backends = backends(&replicas);
        let placement = Placement {
            listen: Ipv4Addr::UNSPECIFIED.into(),
            reach: Host::Gateway.address().into(),
            launcher: Lab::launcher(Host::Gateway),
        };
        let gateway = Gateway::start_placed(
            &run_dir.join("gateway"),
            &placement,
            GATEWAY_PORT,
            &backends,
            HEALTH_INTERVAL,
            &tls,
            gateway::ephemeral_port,
        )
        .await?;
        let servers = Addresses {
            webhook_url,
            gateway: &gateway,
        };
        for replica in &mut replicas {
            replica.env = environment(replica.service, replica.host, &servers, &secrets);
        }
        // The first replica of each service migrates its database alone; the second starts
        // once the first is up.
        for replica in replicas.iter_mut().filter(|r| r.host == ReplicaHost::A) {
            replica.start()?;
        }
        wait_ready(&mut replicas, ReplicaHost::A).await?;
        for replica in replicas.iter_mut().filter(|r| r.host == ReplicaHost::B) {
            replica.start()?;
        }
        wait_ready(&mut replicas, ReplicaHost::B).await?;
        let system = Self {
            postgres,
            redis,
            rabbitmq,
            nats,
            replicas,
            gateway,
            gateway_to_host_a,
            host_b_to_postgres,
            secrets,
            tls,
        };
        system.wait_until_routed().await?;
        Ok(system)
    }

    /// Waits until the gateway counts every routed replica up.
    pub async fn wait_until_routed(&self) -> anyhow::Result<()> {
        self.gateway
            .wait_until_routed(&backends(&self.replicas), Duration::from_secs(240))
            .await
    }

    pub fn replica_mut(&mut self, service: Service, host: ReplicaHost) -> &mut Replica {
        self.replicas
            .iter_mut()
            .find(|replica| replica.service == service && replica.host == host)
            .expect("every service has a replica on every host")
    }

    /// The first replica that exited by itself, if any (a crash the run must report).
    pub fn crashed(&mut self) -> Option<String> {
        self.replicas.iter_mut().find_map(|replica| {
            let status = replica.exit_status()?;
            Some(format!("{} exited ({status})", replica.name()))
        })
    }

    /// Ends every process it started: replicas (SIGTERM, then SIGKILL), gateway, servers.
    pub async fn stop(self) {
        let Self {
            postgres,
            redis,
            rabbitmq,
            nats,
            mut replicas,
            gateway,
            gateway_to_host_a,
            host_b_to_postgres,
            ..
        } = self;
        for replica in &replicas {
            let _ = replica.signal("TERM");
        }
        for replica in &mut replicas {
            let exited = tokio::time::timeout(Duration::from_secs(20), replica.exited()).await;
            if exited.is_err() {
                let _ = replica.kill().await;
            }
        }
        gateway.stop().await;
        drop(gateway_to_host_a);
        drop(host_b_to_postgres);
        postgres.stop().await;
        redis.stop().await;
        rabbitmq.stop().await;
        nats.stop().await;
    }
}

/// Every routed service with the URLs of its replicas, as the gateway reaches them.
fn backends(replicas: &[Replica]) -> Vec<Backend> {
    Service::ALL
        .into_iter()
        .filter_map(Service::backend)
        .map(|name| Backend {
            name,
            urls: replicas
                .iter()
                .filter(|replica| replica.service.backend() == Some(name))
                .map(Replica::gateway_url)
                .collect(),
        })
        .collect()
}

/// Waits until every replica on `host` answers `/health/ready`; fails if one exits.
async fn wait_ready(replicas: &mut [Replica], host: ReplicaHost) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    for replica in replicas.iter_mut().filter(|r| r.host == host) {
        while !gateway::rolling::ready(&replica.direct_url()).await {
            if let Some(status) = replica.exit_status() {
                bail!(
                    "{} exited while starting ({status}); see its log in the run directory",
                    replica.name()
                );
            }
            if started.elapsed() > Duration::from_secs(240) {
                bail!("{} was not ready within 4 minutes", replica.name());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

struct Addresses<'a> {
    webhook_url: &'a str,
    gateway: &'a Gateway,
}

/// The whole environment of one replica.
fn environment(
    service: Service,
    host: ReplicaHost,
    servers: &Addresses<'_>,
    secrets: &Secrets,
) -> Vec<(String, String)> {
    let postgres = match host {
        ReplicaHost::A => Host::Postgres.address(),
        ReplicaHost::B => HOST_B_TO_POSTGRES_PROXY,
    };
    let database = |name: &str| format!("postgres://postgres@{postgres}:5432/{name}");
    let redis = format!("redis://{}:6379", Host::Redis.address());
    let amqp = format!(
        "amqp://{RABBITMQ_USER}:{RABBITMQ_PASSWORD}@{}:5672/%2f",
        Host::RabbitMq.address()
    );
    let internal = |name: &str| {
        servers
            .gateway
            .internal_url(name)
            .unwrap_or_default()
            .to_owned()
    };
    // The order service alone reaches the product service at the gateway's second address, so
    // that a partition can take exactly that path away.
    let product_for_orders = internal("product").replace(
        &Host::Gateway.address().to_string(),
        &ORDER_TO_PRODUCT.to_string(),
    );
    let mut env: Vec<(&str, String)> = vec![
        ("APP_PROFILE", "production".into()),
        ("LOG_FORMAT", "json".into()),
        ("LOG_LEVEL", "warn".into()),
        ("HOST", host.host().address().to_string()),
        ("PORT", service.port().to_string()),
        // Only the gateway may name the client; it connects from its own address, or from
        // the root namespace through the host-a link proxy.
        (
            "TRUSTED_PROXIES",
            format!(
                "{}/32,{}/32",
                Host::Gateway.address(),
                GATEWAY_TO_HOST_A_PROXY
            ),
        ),
        (
            "SHUTDOWN_DRAIN_MS",
            (3 * HEALTH_INTERVAL.as_millis()).to_string(),
        ),
        ("JWT_SECRET", secrets.jwt.clone()),
        ("SERVICE_TOKEN", secrets.service_token.clone()),
        ("BOOTSTRAP_ADMIN_USERNAME", secrets.admin_username.clone()),
        ("BOOTSTRAP_ADMIN_PASSWORD", secrets.admin_password.clone()),
        ("STOREFRONT_CSRF_SECRET", secrets.csrf.clone()),
    ];
    match service {
        Service::User => env.extend([("DATABASE_URL", database("users")), ("REDIS_URL", redis)]),
        Service::Product => env.extend([
            ("DATABASE_URL", database("products")),
            ("REDIS_URL", redis),
            ("USER_SERVICE_URL", internal("user")),
            // A reservation whose order never came (its placement failed half-way under a
            // fault) goes back to stock after this long: short, so that the quiet period after
            // the run sees every such unit back and stock conservation can be checked exactly.
            ("RESERVATION_TTL_SECS", "30".into()),
            ("RESERVATION_SWEEP_INTERVAL_MS", "2000".into()),
        ]),
        Service::Order => env.extend([
            ("DATABASE_URL", database("orders")),
            ("USER_SERVICE_URL", internal("user")),
            ("PRODUCT_SERVICE_URL", product_for_orders),
            ("AMQP_URL", amqp),
            ("ORDER_EVENTS_EXCHANGE", EXCHANGE.into()),
            // The workload orders as a handful of users.
            ("ORDER_WRITES_PER_USER", "1000000".into()),
        ]),
        Service::Notification => env.extend([
            ("AMQP_URL", amqp),
            ("NOTIFY_EXCHANGE", EXCHANGE.into()),
            ("NOTIFY_CHANNELS", "webhook".into()),
            ("NOTIFY_WEBHOOK_URL", servers.webhook_url.to_owned()),
            ("NOTIFY_WEBHOOK_SECRET", secrets.webhook.clone()),
            ("NOTIFY_DEDUP_STORE", "redis".into()),
            ("REDIS_URL", redis),
        ]),
        Service::Bridge => env.extend([
            ("AMQP_URL", amqp),
            ("NATS_URL", format!("nats://{BRIDGE_TO_NATS}:4222")),
            ("BRIDGE_EXCHANGE", EXCHANGE.into()),
            ("BRIDGE_STREAM", STREAM.into()),
            ("BRIDGE_SUBJECT_PREFIX", SUBJECT_PREFIX.into()),
        ]),
        Service::Storefront => env.extend([
            ("USER_SERVICE_URL", internal("user")),
            ("PRODUCT_SERVICE_URL", internal("product")),
            ("ORDER_SERVICE_URL", internal("order")),
            ("NATS_URL", format!("nats://{}:4222", Host::Nats.address())),
            ("STOREFRONT_STREAM", STREAM.into()),
            ("STOREFRONT_SUBJECT_PREFIX", SUBJECT_PREFIX.into()),
            ("REDIS_URL", redis),
            (
                "STOREFRONT_CONSUMER",
                format!("chaos-storefront-{}", host.index()),
            ),
        ]),
    }
    env.into_iter()
        .map(|(key, value)| (key.to_owned(), value))
        .collect()
}
