//! The one handle for a service of the workspace running in this process: every service is
//! started the same way (built, bound to a random port, run by its host under a token) and
//! stopped the same way. What differs per service (its state, its database, its queue names)
//! is the `parts` of the handle, which the handle dereferences to.

use std::net::SocketAddr;
use std::ops::Deref;
use std::time::Duration;

use shop_host::ServiceHost;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long a stopping service may take: its drain deadline in tests is a few seconds.
const STOP_DEADLINE: Duration = Duration::from_secs(60);

/// A service running in this process.
#[derive(Debug)]
pub struct TestService<X> {
    pub address: SocketAddr,
    pub base_url: String,
    pub client: reqwest::Client,
    /// Fires the service's shutdown, as SIGTERM does in production.
    pub shutdown: CancellationToken,
    server: JoinHandle<()>,
    /// What this kind of service adds: see the aliases such as `UserServiceHandle`.
    pub parts: X,
}

impl<X> Deref for TestService<X> {
    type Target = X;

    fn deref(&self) -> &X {
        &self.parts
    }
}

impl<X> TestService<X> {
    /// Runs a built service on its own task until [`TestService::stop`].
    pub fn spawn<E: Send + 'static>(host: ServiceHost<E>, parts: X) -> Self {
        let address = host.local_addr();
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(host.run(shutdown.clone()));
        Self {
            address,
            base_url: format!("http://{address}"),
            client: crate::http_client(),
            shutdown,
            server,
            parts,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// `GET path` without credentials, whatever its status; panics when the service does not
    /// answer.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        crate::assertions::get(&self.client, &self.url(path)).await
    }

    /// The JSON body of `GET path`, whatever its status (a test asserting on a problem
    /// document reads it this way too).
    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        crate::assertions::get_json(&self.client, &self.url(path)).await
    }

    /// The text the service serves at `/metrics`.
    pub async fn metrics(&self) -> String {
        self.get("/metrics")
            .await
            .error_for_status()
            .expect("the service answers /metrics")
            .text()
            .await
            .expect("a metrics text")
    }

    /// The value of one sample of the service's `/metrics`, named as printed with its labels
    /// (`user_password_checks_total{cost="10"}`); 0 when it was never recorded.
    pub async fn served_metric(&self, sample: &str) -> f64 {
        crate::metric_value(&self.metrics().await, sample)
    }

    /// Shuts the service down as SIGTERM would and waits until it has drained and closed its
    /// connections; a panic inside the service fails the test here. Returns the parts, for a
    /// test that goes on looking at what the service left behind.
    pub async fn stop(self) -> X {
        self.shutdown.cancel();
        match tokio::time::timeout(STOP_DEADLINE, self.server).await {
            Err(_) => panic!("the service did not stop within {STOP_DEADLINE:?}"),
            Ok(Err(error)) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            Ok(Err(error)) => panic!("the service task was cancelled: {error}"),
            Ok(Ok(())) => self.parts,
        }
    }
}
