//! A process the run started and may signal, kill and start again: a server's process group
//! or a replica.

use tokio::process::Child;

use crate::lab::run;

/// The running child, if any; signals go to its process group when `group` is set (a server
/// whose program starts others: the Erlang VM under RabbitMQ's script, the postmaster under
/// `runuser`).
#[derive(Debug, Default)]
pub struct Supervised {
    child: Option<Child>,
    group: bool,
}

impl Supervised {
    pub fn new(group: bool) -> Self {
        Self { child: None, group }
    }

    /// Takes over a child just started (killed if the handle is dropped running).
    pub fn started(&mut self, child: Child) {
        self.child = Some(child);
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// `kill -SIGNAL` to the process (or its group).
    pub fn signal(&self, signal: &str) -> anyhow::Result<()> {
        let pid = self
            .pid()
            .ok_or_else(|| anyhow::anyhow!("the process does not run"))?;
        let target = if self.group {
            format!("-{pid}")
        } else {
            pid.to_string()
        };
        run("kill", &[&format!("-{signal}"), "--", &target])
    }

    /// SIGKILL, and waits for the process to be gone.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        if self.pid().is_some() {
            self.signal("KILL")?;
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.wait().await;
        }
        Ok(())
    }

    /// How the process exited, if it did by itself.
    pub fn exit_status(&mut self) -> Option<String> {
        match self.child.as_mut()?.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            _ => None,
        }
    }

    /// Resolves once the process has exited (at once when none runs).
    pub async fn exited(&mut self) -> anyhow::Result<()> {
        if let Some(child) = &mut self.child {
            child.wait().await?;
        }
        Ok(())
    }
}
