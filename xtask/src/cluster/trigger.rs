//! How an operator reaches a running `cargo xtask cluster`: it writes its PID to
//! `.cluster/cluster.pid` while it runs, and SIGHUP to that PID asks for a rolling restart.
//! `cargo xtask cluster restart` builds the binaries (so the restart rolls out the current
//! code) and sends that signal.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::cargo::Profile;
use crate::up::{build_binaries, workspace_root};

/// The running cluster's PID file, removed when it stops.
pub fn pid_file(root: &Path) -> PathBuf {
    root.join(".cluster/cluster.pid")
}

/// Holds the PID file while the cluster runs; deleting it on drop covers every way `run`
/// returns.
#[derive(Debug)]
pub struct PidFile(PathBuf);

impl PidFile {
    pub fn write(root: &Path) -> anyhow::Result<Self> {
        let path = pid_file(root);
        std::fs::write(&path, format!("{}\n", std::process::id()))
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(Self(path))
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `cargo xtask cluster restart`: builds `binaries`, then signals the running cluster.
pub async fn request_restart(binaries: &[&str]) -> anyhow::Result<()> {
    let root = workspace_root();
    let pid = running_cluster(&root)?;
    build_binaries(&root, binaries, Profile::Debug).await?;
    gateway::rolling::send_signal(pid, "HUP").await?;
    println!(
        "cluster: rolling restart requested (PID {pid}); its progress shows in the cluster's output"
    );
    Ok(())
}

/// The PID in the PID file, if it is still an xtask: a file left by a cluster that was killed
/// may name a PID some other program has since been given, which must not get the signal.
fn running_cluster(root: &Path) -> anyhow::Result<u32> {
    let path = pid_file(root);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "no running cluster ({} is missing); start one with `cargo xtask cluster`",
            path.display()
        )
    })?;
    let pid: u32 = text
        .trim()
        .parse()
        .with_context(|| format!("{} holds no PID", path.display()))?;
    let command_line = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    if !String::from_utf8_lossy(&command_line).contains("xtask") {
        bail!(
            "no running cluster: PID {pid} from {} is not `cargo xtask cluster` (a stale file; \
             delete it)",
            path.display()
        );
    }
    Ok(pid)
}
