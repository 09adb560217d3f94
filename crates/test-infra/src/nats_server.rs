//! A nats-server of the test's own, on a free port with its own store directory, so the test
//! can kill and restart it without touching the shared one. Ended by PID when dropped.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::process::{Child, Command};

#[derive(Debug)]
pub struct PrivateNats {
    pub port: u16,
    store: PathBuf,
    /// `--user` and `--pass`, when the server requires them.
    credentials: Option<(String, String)>,
    child: Option<Child>,
}

impl PrivateNats {
    pub async fn start() -> Self {
        Self::launch(None).await
    }

    /// A server that accepts only `user` with `password`, as deployments run it.
    pub async fn start_with_password(user: &str, password: &str) -> Self {
        Self::launch(Some((user.to_owned(), password.to_owned()))).await
    }

    async fn launch(credentials: Option<(String, String)>) -> Self {
        let port = crate::free_port();
        let store =
            std::env::temp_dir().join(format!("test-nats-{}", uuid::Uuid::new_v4().simple()));
        let mut server = Self {
            port,
            store,
            credentials,
            child: None,
        };
        server.restart().await;
        server
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts the server (again, with the same port and store) and waits until it answers.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let mut command = Command::new(nats_server_binary());
        command
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(&self.store);
        if let Some((user, password)) = &self.credentials {
            command.args(["--user", user, "--pass", password]);
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("nats-server is installed");
        self.child = Some(child);
        let port = self.port;
        crate::wait_until(
            "the private nats-server to listen",
            Duration::from_secs(10),
            || async move { TcpStream::connect(("127.0.0.1", port)).await.ok().map(drop) },
        )
        .await;
    }

    /// Kills the server (SIGKILL, as a crash) and waits for it to be gone.
    pub async fn kill(&mut self) {
        let mut child = self.child.take().expect("running");
        child.kill().await.expect("kill the private nats-server");
    }
}

/// Debian installs it in /usr/sbin, which a non-root PATH may lack.
fn nats_server_binary() -> PathBuf {
    let debian = PathBuf::from("/usr/sbin/nats-server");
    if debian.exists() {
        debian
    } else {
        PathBuf::from("nats-server")
    }
}

impl Drop for PrivateNats {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
        let _ = std::fs::remove_dir_all(&self.store);
    }
}
