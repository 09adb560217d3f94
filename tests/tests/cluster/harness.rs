//! A production-shaped system on loopback: every service as separate processes (two replicas
//! each, production profile, generated secrets) behind the real HAProxy with the repository's
//! routes. A replica is this test binary started again on its hidden `serve_replica` entry
//! point, so a test can `kill -9` one for real, or restart them all in turn with the rolling
//! restart `cargo xtask cluster` uses.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use gateway::rolling::ReplicaProcess;
use gateway::{Backend, Gateway, LocalTls};
use serde_json::Value;
use test_support::bridge::StreamCleanup;
use test_support::broker::ExchangeCleanup;
use test_support::{RedisPrefixCleanup, TestDatabase, free_port, wait_until};
use tokio::process::{Child, Command};

mod replica_env;

use replica_env::settings;

/// The environment variable that turns this test binary into a replica of that role.
pub const ROLE_VAR: &str = "SHOP_REPLICA_ROLE";
/// Clusters of this binary run one at a time: ten processes and a gateway each are enough
/// load for two cores.
pub static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The machine's NATS with JetStream; each cluster uses a stream and subjects of its own.
pub const NATS_URL: &str = "nats://127.0.0.1:4222";
/// How often the gateway probes each replica's `/health/ready`.
pub const HEALTH_INTERVAL: Duration = Duration::from_millis(500);
/// The password of every customer [`Cluster::customer`] registers.
pub const CUSTOMER_PASSWORD: &str = "customer-password";

/// What a replica runs: one of the six services.
pub use gateway::Service as Role;

/// One replica process, killed when dropped; it keeps its settings, so the rolling restart
/// can start it again.
#[derive(Debug)]
pub struct Replica {
    pub role: Role,
    pub url: String,
    env: Vec<(&'static str, String)>,
    /// Where the replica's output goes (appended over restarts), quoted when it fails to start.
    log: PathBuf,
    child: Option<Child>,
}

impl Replica {
    /// `kill -9` of this replica's PID: no drain, no goodbye to the brokers.
    pub async fn kill(&self) {
        test_support::send_signal(self.pid().expect("the replica runs"), "KILL").await;
    }
}

impl ReplicaProcess for Replica {
    fn name(&self) -> String {
        format!("{} replica at {}", self.role.name(), self.url)
    }

    fn url(&self) -> String {
        self.url.clone()
    }

    fn backend(&self) -> Option<&'static str> {
        self.role.backend()
    }

    fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    async fn exited(&mut self) -> anyhow::Result<()> {
        if let Some(child) = &mut self.child {
            child.wait().await?;
        }
        Ok(())
    }

    fn start(&mut self) -> anyhow::Result<()> {
        let (stdout, stderr) =
            gateway::output_to(&self.log, std::env::var_os("TEST_LOG").is_some())?;
        let child = Command::new(std::env::current_exe()?)
            .args(["serve_replica", "--exact", "--ignored", "--nocapture"])
            .env_clear()
            .env(ROLE_VAR, self.role.name())
            .envs(self.env.iter().map(|(key, value)| (*key, value.as_str())))
            .envs(std::env::var_os("TEST_LOG").map(|value| ("TEST_LOG", value)))
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()?;
        self.child = Some(child);
        Ok(())
    }
}

/// Names and secrets of one cluster, unique so clusters and other tests never share state.
#[derive(Debug, Clone)]
pub struct Identity {
    pub id: String,
    pub jwt_secret: String,
    pub service_token: String,
    pub admin: (String, String),
    pub exchange: String,
    pub notification_queue: String,
    pub bridge_queue: String,
    pub stream: String,
    pub subject_prefix: String,
    pub webhook_url: String,
    /// The replicas' RabbitMQ URL, with the run's test user (production refuses `guest`): a
    /// user of the cluster's own cost three `rabbitmqctl` runs, an Erlang VM each.
    pub broker_url: String,
    /// The storefront replicas' shared CSRF key.
    pub csrf_secret: String,
}

impl Identity {
    /// What every Redis key prefix of the cluster starts with.
    pub fn redis_prefix(&self) -> String {
        format!("test-cluster-{}:", self.id)
    }

    fn new(webhook_url: String) -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let random = || {
            format!(
                "{}{}",
                uuid::Uuid::new_v4().simple(),
                uuid::Uuid::new_v4().simple()
            )
        };
        Self {
            jwt_secret: random(),
            service_token: random(),
            admin: (format!("admin{}", &id[..8]), random()),
            exchange: format!("test.cluster.{id}"),
            notification_queue: format!("test.cluster.notifications.{id}"),
            bridge_queue: format!("test.cluster.bridge.{id}"),
            stream: format!("TEST_CLUSTER_{id}"),
            subject_prefix: format!("test.cluster.{id}"),
            webhook_url,
            broker_url: test_support::broker::service_url().to_owned(),
            csrf_secret: random(),
            id,
        }
    }
}

/// The cluster's databases, in the order of `Cluster::_databases` (and of the replicas'
/// `DATABASE_URL`s in `replica_env`).
const DATABASES: [&str; 3] = ["users", "products", "orders"];

#[derive(Debug)]
pub struct Cluster {
    pub gateway: Gateway,
    pub replicas: Vec<Replica>,
    pub identity: Identity,
    /// Trusts only [`Cluster::tls`]'s CA.
    pub client: reqwest::Client,
    pub tls: LocalTls,
    _databases: Vec<TestDatabase>,
    /// The replicas declare the cluster's exchange durable: deleted once they are gone.
    _exchange: ExchangeCleanup,
    /// The bridges create the cluster's stream: deleted with its consumers once they are gone.
    _stream: StreamCleanup,
    config_dir: PathBuf,
    /// Every Redis key of the cluster (throttle counts, cache, dedup leases, sessions) is under
    /// [`Identity::redis_prefix`]: deleted last, once the replicas that write them are gone.
    _redis_keys: RedisPrefixCleanup,
}

impl Cluster {
    /// Two replicas of every service behind the gateway; `webhook_url` receives every
    /// notification. Hold [`SERIAL`] while the cluster runs.
    pub async fn start(webhook_url: &str) -> Self {
        test_support::init();
        let identity = Identity::new(webhook_url.to_owned());
        // Borrowed from the tests' pool, empty, as the in-process services' are: no database
        // created and dropped (some 300 files each) per cluster.
        let mut databases = Vec::new();
        for _ in DATABASES {
            databases.push(TestDatabase::borrow().await);
        }
        let ports: Vec<(Role, u16)> = Role::ALL
            .into_iter()
            .flat_map(|role| [(role, free_port()), (role, free_port())])
            .collect();
        let backends: Vec<Backend> = Role::ALL
            .into_iter()
            .filter(|role| role.backend().is_some())
            .map(|role| Backend {
                name: role.name(),
                urls: ports
                    .iter()
                    .filter(|(r, _)| *r == role)
                    .map(|(_, port)| format!("http://127.0.0.1:{port}"))
                    .collect(),
            })
            .collect();
        let config_dir = std::env::temp_dir().join(format!("test-gateway-{}", identity.id));
        // A certificate of the cluster's own, generated as `cargo xtask cluster` does.
        let tls = LocalTls::load_or_create(&config_dir.join("tls")).expect("local certificate");
        let gateway = Gateway::start(&config_dir, 0, &backends, HEALTH_INTERVAL, &tls, test_port)
            .await
            .expect("the gateway starts");
        let mut replicas = Vec::new();
        // The first replica of each service runs the migrations on its empty database; the
        // second then starts against an existing schema, as a scaled-out deployment does.
        for wave in 0..2 {
            let mut started = Vec::new();
            for (role, port) in ports.iter().skip(wave).step_by(2) {
                let mut replica = Replica {
                    role: *role,
                    url: format!("http://127.0.0.1:{port}"),
                    env: settings(*role, wave, *port, &identity, &databases, &gateway),
                    log: config_dir.join(format!("{}-{port}.log", role.name())),
                    child: None,
                };
                replica.start().expect("a replica process starts");
                started.push(replica);
            }
            for replica in &mut started {
                wait_ready(replica).await;
            }
            replicas.extend(started);
        }
        let exchange_cleanup = ExchangeCleanup {
            exchange: identity.exchange.clone(),
        };
        let stream_cleanup = StreamCleanup {
            nats_url: NATS_URL.into(),
            stream: identity.stream.clone(),
        };
        let redis_keys = RedisPrefixCleanup {
            prefix: identity.redis_prefix(),
        };
        let cluster = Self {
            gateway,
            replicas,
            identity,
            client: https_client_builder(&tls).build().expect("HTTPS client"),
            tls,
            _databases: databases,
            _exchange: exchange_cleanup,
            _stream: stream_cleanup,
            config_dir,
            _redis_keys: redis_keys,
        };
        for backend in &backends {
            cluster.wait_for_servers_up(backend.name, 2).await;
        }
        cluster
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.gateway.url)
    }

    /// `GET path` through the gateway without credentials, whatever its status.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        test_support::get(&self.client, &self.url(path)).await
    }

    /// The JSON body of `GET path` through the gateway, whatever its status.
    pub async fn get_json(&self, path: &str) -> Value {
        test_support::get_json(&self.client, &self.url(path)).await
    }

    pub fn replicas_of(&self, role: Role) -> impl Iterator<Item = &Replica> {
        self.replicas
            .iter()
            .filter(move |replica| replica.role == role)
    }

    /// How many of `backend`'s servers the gateway currently counts as up.
    pub async fn servers_up(&self, backend: &str) -> Option<usize> {
        self.gateway.servers_up(backend).await.ok()
    }

    /// Restarts every replica in turn with `cargo xtask cluster restart`'s code
    /// (`gateway::rolling`); `progress` gets a line per step.
    pub async fn rolling_restart(&mut self, progress: impl FnMut(&str)) {
        gateway::rolling::rolling_restart(&self.gateway, &mut self.replicas, progress)
            .await
            .expect("every replica restarts and is routed to again");
    }

    pub async fn wait_for_servers_up(&self, backend: &str, count: usize) {
        wait_until(
            &format!("the gateway to see {count} {backend} replicas up"),
            Duration::from_secs(20),
            || async { (self.servers_up(backend).await == Some(count)).then_some(()) },
        )
        .await;
    }

    /// Registers a customer through the gateway and logs in; returns (username, token).
    pub async fn customer(&self) -> (String, String) {
        self.customer_from(&self.client).await
    }

    /// [`Cluster::customer`] with `client`, e.g. one on a source address of its own: the User
    /// Service takes 10 registrations an hour from one address.
    pub async fn customer_from(&self, client: &reqwest::Client) -> (String, String) {
        let username = format!("c{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let response = client
            .post(self.url("/register"))
            .json(&serde_json::json!({"username": username, "password": CUSTOMER_PASSWORD}))
            .send()
            .await
            .expect("register");
        assert_eq!(response.status(), 201, "registering through the gateway");
        let token = self.login_from(client, &username, CUSTOMER_PASSWORD).await;
        (username, token)
    }

    pub async fn admin_token(&self) -> String {
        let (username, password) = &self.identity.admin;
        self.login(username, password).await
    }

    async fn login(&self, username: &str, password: &str) -> String {
        self.login_from(&self.client, username, password).await
    }

    async fn login_from(&self, client: &reqwest::Client, username: &str, password: &str) -> String {
        let response = client
            .post(self.url("/login"))
            .json(&serde_json::json!({"username": username, "password": password}))
            .send()
            .await
            .expect("login");
        assert_eq!(
            response.status(),
            200,
            "logging in {username} through the gateway"
        );
        let body: Value = response.json().await.expect("token JSON");
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    /// Creates a product through the gateway; returns its id.
    pub async fn product(&self, admin_token: &str, quantity: i64) -> i64 {
        let response = self
            .client
            .post(self.url("/products"))
            .bearer_auth(admin_token)
            .json(&serde_json::json!({"name": "Cluster lamp", "price": "12.50", "quantity": quantity}))
            .send()
            .await
            .expect("create product");
        assert_eq!(
            response.status(),
            201,
            "creating a product through the gateway"
        );
        let body: Value = response.json().await.expect("product JSON");
        body["id"].as_i64().expect("product id")
    }
}

impl Cluster {
    /// The first column of the first row of `sql` on the cluster's `database` (`users`,
    /// `products` or `orders`): what the replicas stored, not what they answered.
    pub async fn sql_i64(&self, database: &str, sql: &str) -> i64 {
        use futures_util::StreamExt as _;
        let index = DATABASES
            .iter()
            .position(|name| *name == database)
            .unwrap_or_else(|| panic!("no {database} database"));
        let url = &self._databases[index].url;
        let config = shop_postgres::DatabaseConfig {
            database_url: shop_config::Secret::new(url.as_str()),
            ..Default::default()
        };
        let (client, mut connection) = shop_postgres::connect_unpooled(&config)
            .await
            .expect("a connection to the cluster's database");
        tokio::spawn(async move { while connection.next().await.is_some() {} });
        let row = client
            .query_one(sql, &[])
            .await
            .unwrap_or_else(|error| panic!("{sql}: {error}"));
        row.get(0)
    }
}

/// The gateway's ports come from the tests' shared allocator, reserved against every other
/// test process's draws.
pub fn test_port() -> anyhow::Result<u16> {
    Ok(free_port())
}

/// A client trusting only the cluster's CA: a request through the gateway succeeds only if it
/// served the certificate that CA signed.
pub fn https_client_builder(tls: &LocalTls) -> reqwest::ClientBuilder {
    test_support::init();
    let ca = reqwest::Certificate::from_pem(tls.ca_pem.as_bytes()).expect("the CA is PEM");
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .tls_certs_only([ca])
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Each replica's stderr (`<role>-<port>.log`) and the gateway's files are what a
            // failed run has to go on: they stay.
            eprintln!(
                "the cluster's logs are kept in {}",
                self.config_dir.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.config_dir);
        }
    }
}

/// Waits until `replica` is ready; a replica that exits first (a port taken, a refused
/// setting) fails the test at once, with its exit status, rather than after the guard.
async fn wait_ready(replica: &mut Replica) {
    let started = Instant::now();
    let (role, url, log) = (
        replica.role.name(),
        replica.url.clone(),
        replica.log.clone(),
    );
    let child = std::sync::Mutex::new(replica.child.as_mut());
    wait_until(
        &format!("{role} replica at {url} to be ready"),
        Duration::from_secs(60),
        || async {
            let exited = child
                .lock()
                .expect("child lock")
                .as_mut()
                .and_then(|child| child.try_wait().ok().flatten());
            if let Some(status) = exited {
                panic!(
                    "the {role} replica at {url} exited before it was ready: {status}; its log \
                     ended with:\n{}",
                    gateway::log_tail(&log, 20)
                );
            }
            gateway::rolling::ready(&url).await.then_some(())
        },
    )
    .await;
    tracing::debug!(role, elapsed = ?started.elapsed(), "replica ready");
}
