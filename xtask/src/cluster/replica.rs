//! One replica of the cluster: a service binary on a port of its own, with the settings it
//! keeps across restarts. The rolling restart (`gateway::rolling`) stops and starts it.

use std::path::PathBuf;
use std::process::Stdio;

use anyhow::Context;
use gateway::rolling::ReplicaProcess;
use tokio::process::{Child, Command};

use crate::up::forward_output;

#[derive(Debug)]
pub struct ClusterReplica {
    pub binary: &'static str,
    /// The gateway backend routing to it, if any.
    pub backend: Option<&'static str>,
    /// Its number among its service's replicas, from 0.
    pub index: usize,
    pub port: u16,
    /// The built binary.
    pub program: PathBuf,
    /// Where it runs (the workspace root).
    pub root: PathBuf,
    /// Its whole environment besides what it inherits.
    pub env: Vec<(String, String)>,
    child: Option<Child>,
}

impl ClusterReplica {
    pub fn new(
        binary: &'static str,
        backend: Option<&'static str>,
        index: usize,
        port: u16,
        program: PathBuf,
        root: PathBuf,
        env: Vec<(String, String)>,
    ) -> Self {
        Self {
            binary,
            backend,
            index,
            port,
            program,
            root,
            env,
            child: None,
        }
    }

    /// Waits for its process to exit and says how; never resolves while it does not run (a
    /// replica a failed restart left stopped, whose exit that restart already saw and
    /// reported, is not an exit to report again).
    pub async fn exit_status(&mut self) -> String {
        match &mut self.child {
            // `id` is gone once an exit has been collected.
            Some(child) if child.id().is_some() => match child.wait().await {
                Ok(status) => status.to_string(),
                Err(error) => error.to_string(),
            },
            _ => std::future::pending().await,
        }
    }
}

impl ReplicaProcess for ClusterReplica {
    fn name(&self) -> String {
        format!("{} #{}", self.binary, self.index + 1)
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn backend(&self) -> Option<&'static str> {
        self.backend
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
        let mut child = Command::new(&self.program)
            .current_dir(&self.root)
            .envs(self.env.iter().map(|(key, value)| (key, value)))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", self.binary))?;
        forward_output(self.binary, &mut child);
        self.child = Some(child);
        Ok(())
    }
}
