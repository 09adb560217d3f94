//! A private `redis-server` on a random port, for tests that take Redis away: the test kills,
//! stalls and restarts this process (by its own PID), never the shared instance.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::process::{Child, Command};

use crate::wait_until;

#[derive(Debug)]
pub struct PrivateRedis {
    pub port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    /// Starts a server without persistence on a free port and waits until it accepts.
    pub async fn start() -> Self {
        let port = crate::free_port();
        let mut server = Self { port, child: None };
        server.restart().await;
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL, a crash) and waits until it is gone.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// Starts the server again on the same port (empty: nothing is persisted).
    pub async fn restart(&mut self) {
        self.kill().await;
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server is installed");
        self.child = Some(child);
        let address = SocketAddr::from(([127, 0, 0, 1], self.port));
        wait_until(
            "the private redis-server",
            Duration::from_secs(10),
            || async { TcpStream::connect(address).await.ok().map(drop) },
        )
        .await;
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing is answered.
    pub async fn stall(&self) {
        self.signal("STOP").await;
    }

    /// Thaws a stalled server (SIGCONT).
    pub async fn resume(&self) {
        self.signal("CONT").await;
    }

    async fn signal(&self, signal: &str) {
        let pid = self
            .child
            .as_ref()
            .and_then(Child::id)
            .expect("the server is running");
        crate::send_signal(pid, signal).await;
    }
}
