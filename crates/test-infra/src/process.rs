//! A service binary running as operators run it: a child process under the production profile,
//! configured by its environment alone, stopped by a signal. For what only the real process
//! shows: its signal handling, its exit status, its listening socket.

use std::process::{ExitStatus, Stdio};

use tokio::net::TcpStream;
use tokio::process::{Child, Command};

use crate::{HANG_GUARD as GUARD, wait_until};

/// A service binary running as a child process on a loopback port; killed if dropped running.
#[derive(Debug)]
pub struct ServiceProcess {
    pub port: u16,
    pub base_url: String,
    child: Child,
}

impl ServiceProcess {
    /// Starts `binary` under the production profile with `settings` as its only environment
    /// (besides `PATH`, the profile and the address) and waits until `/health/ready` says 200.
    pub async fn start(binary: &str, settings: &[(&str, String)]) -> Self {
        let port = crate::free_port();
        let child = Command::new(binary)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs([
                ("APP_PROFILE", "production"),
                ("LOG_LEVEL", "warn"),
                ("HOST", "127.0.0.1"),
            ])
            .env("PORT", port.to_string())
            .envs(settings.iter().map(|(key, value)| (*key, value.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|error| panic!("{binary} starts: {error}"));
        let process = Self {
            port,
            base_url: format!("http://127.0.0.1:{port}"),
            child,
        };
        process.wait_ready(binary).await;
        process
    }

    async fn wait_ready(&self, binary: &str) {
        let client = crate::http_client();
        let ready = self.url("/health/ready");
        wait_until(&format!("{binary} to be ready"), GUARD, || async {
            let response = client.get(&ready).send().await.ok()?;
            (response.status() == 200).then_some(())
        })
        .await;
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Requests the process is handling, not counting the one that asks (its
    /// `http_requests_in_flight` gauge).
    pub async fn requests_in_flight(&self) -> Option<f64> {
        let text = crate::http_client()
            .get(self.url("/metrics"))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        Some(crate::metrics::metric_value(&text, "http_requests_in_flight") - 1.0)
    }

    /// Waits until the process handles at least `count` requests besides the asking one.
    pub async fn wait_in_flight(&self, count: f64) {
        wait_until("the requests in flight", GUARD, || async {
            (self.requests_in_flight().await? >= count).then_some(())
        })
        .await;
    }

    /// Sends SIGTERM, as an orchestrator stopping the service does.
    pub async fn terminate(&self) {
        let pid = self.child.id().expect("the process runs");
        crate::send_signal(pid, "TERM").await;
    }

    /// Whether a new TCP connection to the service's port is refused.
    pub async fn refuses_connections(&self) -> bool {
        matches!(
            TcpStream::connect(("127.0.0.1", self.port)).await,
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionRefused
        )
    }

    /// Waits for the process to exit by itself and returns how it did.
    pub async fn exit_status(mut self) -> ExitStatus {
        tokio::time::timeout(GUARD, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("the process was still running after {GUARD:?}"))
            .expect("the exit status")
    }
}
