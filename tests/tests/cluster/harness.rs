//! A production-shaped system on loopback: every service as separate processes (two replicas
//! each, production profile, generated secrets) behind the real Traefik with the repository's
//! routes. A replica is this test binary started again on its hidden `serve_replica` entry
//! point, so a test can `kill -9` one for real.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use gateway::{Backend, Gateway, LocalTls};
use serde_json::Value;
use test_support::bridge::StreamCleanup;
use test_support::broker::ExchangeCleanup;
use test_support::{TestDatabase, free_port, wait_until};
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Product,
    Order,
    Notification,
    Bridge,
    Storefront,
}

impl Role {
    pub const ALL: [Self; 6] = [
        Self::User,
        Self::Product,
        Self::Order,
        Self::Notification,
        Self::Bridge,
        Self::Storefront,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Product => "product",
            Self::Order => "order",
            Self::Notification => "notification",
            Self::Bridge => "bridge",
            Self::Storefront => "storefront",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|role| role.name() == name)
    }

    /// Whether the gateway routes to this role (notification and bridge have no public API).
    fn routed(self) -> bool {
        matches!(
            self,
            Self::User | Self::Product | Self::Order | Self::Storefront
        )
    }
}

/// One replica process; killed when dropped.
#[derive(Debug)]
pub struct Replica {
    pub role: Role,
    pub url: String,
    pid: u32,
    _child: Child,
}

impl Replica {
    /// `kill -9` of this replica's PID: no drain, no goodbye to the brokers.
    pub fn kill(&self) {
        let status = std::process::Command::new("kill")
            .args(["-KILL", &self.pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -9 {}", self.pid);
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
    /// The replicas' RabbitMQ user: production refuses `guest`. Deleted with the last clone.
    pub broker: std::sync::Arc<test_support::broker::TempBrokerUser>,
    /// The storefront replicas' shared CSRF key.
    pub csrf_secret: String,
}

impl Identity {
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
            broker: std::sync::Arc::new(test_support::broker::TempBrokerUser::create()),
            csrf_secret: random(),
            id,
        }
    }
}

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
}

impl Cluster {
    /// Two replicas of every service behind the gateway; `webhook_url` receives every
    /// notification. Hold [`SERIAL`] while the cluster runs.
    pub async fn start(webhook_url: &str) -> Self {
        test_support::init();
        let identity = Identity::new(webhook_url.to_owned());
        let databases: Vec<TestDatabase> = ["users", "products", "orders"]
            .into_iter()
            .map(TestDatabase::new)
            .collect();
        let ports: Vec<(Role, u16)> = Role::ALL
            .into_iter()
            .flat_map(|role| [(role, free_port()), (role, free_port())])
            .collect();
        let backends: Vec<Backend> = Role::ALL
            .into_iter()
            .filter(|role| role.routed())
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
        let gateway = Gateway::start(&config_dir, 0, &backends, HEALTH_INTERVAL, &tls)
            .await
            .expect("traefik starts");
        let mut replicas = Vec::new();
        // The first replica of each service creates its database and runs the migrations;
        // the second then starts against an existing schema, as a scaled-out deployment does.
        for wave in 0..2 {
            let mut started = Vec::new();
            for (role, port) in ports.iter().skip(wave).step_by(2) {
                let env = settings(*role, wave, *port, &identity, &databases, &gateway);
                started.push(spawn_replica(*role, *port, &env));
            }
            for replica in &started {
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
        };
        for backend in &backends {
            cluster.wait_for_servers_up(backend.name, 2).await;
        }
        cluster
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.gateway.url)
    }

    pub fn replicas_of(&self, role: Role) -> impl Iterator<Item = &Replica> {
        self.replicas
            .iter()
            .filter(move |replica| replica.role == role)
    }

    /// How many of `backend`'s servers the gateway currently counts as up.
    pub async fn servers_up(&self, backend: &str) -> Option<usize> {
        let url = format!(
            "{}/api/http/services/{backend}@file",
            self.gateway.admin_url
        );
        let body: Value = self.client.get(url).send().await.ok()?.json().await.ok()?;
        let status = body.get("serverStatus")?.as_object()?;
        Some(status.values().filter(|state| *state == "UP").count())
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
        let username = format!("c{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let credentials =
            serde_json::json!({"username": username, "password": "customer-password"});
        let response = self
            .client
            .post(self.url("/register"))
            .json(&credentials)
            .send()
            .await
            .expect("register");
        assert_eq!(response.status(), 201, "registering through the gateway");
        (
            username.clone(),
            self.login(&username, "customer-password").await,
        )
    }

    pub async fn admin_token(&self) -> String {
        let (username, password) = &self.identity.admin;
        self.login(username, password).await
    }

    async fn login(&self, username: &str, password: &str) -> String {
        let response = self
            .client
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
        let _ = std::fs::remove_dir_all(&self.config_dir);
    }
}

fn spawn_replica(role: Role, port: u16, env: &[(&'static str, String)]) -> Replica {
    let verbose = std::env::var_os("TEST_LOG").is_some();
    let output = || {
        if verbose {
            Stdio::inherit()
        } else {
            Stdio::null()
        }
    };
    let child = Command::new(std::env::current_exe().expect("the test binary"))
        .args(["serve_replica", "--exact", "--ignored", "--nocapture"])
        .env_clear()
        .env(ROLE_VAR, role.name())
        .envs(env.iter().map(|(key, value)| (*key, value.as_str())))
        .envs(std::env::var_os("TEST_LOG").map(|value| ("TEST_LOG", value)))
        .stdin(Stdio::null())
        .stdout(output())
        .stderr(output())
        .kill_on_drop(true)
        .spawn()
        .expect("a replica process starts");
    Replica {
        role,
        url: format!("http://127.0.0.1:{port}"),
        pid: child.id().expect("a running child has a PID"),
        _child: child,
    }
}

async fn wait_ready(replica: &Replica) {
    let client = test_support::http_client();
    let started = Instant::now();
    wait_until(
        &format!(
            "{} replica at {} to be ready",
            replica.role.name(),
            replica.url
        ),
        Duration::from_secs(60),
        || async {
            let response = client
                .get(format!("{}/health/ready", replica.url))
                .send()
                .await
                .ok()?;
            response.status().is_success().then_some(())
        },
    )
    .await;
    tracing::debug!(role = replica.role.name(), elapsed = ?started.elapsed(), "replica ready");
}
