//! How an operator reaches a running `cargo xtask cluster`: it writes its PID to
//! `.cluster/cluster.pid` while it runs, and SIGHUP to that PID asks for a rolling restart.
//! `cargo xtask cluster restart` builds the binaries (so the restart rolls out the current
//! code) and sends that signal. The binaries it builds must be the ones the cluster runs: with
//! `--release` exactly when the cluster was started with it, which its command line tells.

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

/// `cargo xtask cluster restart`: builds `binaries` in `profile`, then signals the running
/// cluster.
pub async fn request_restart(binaries: &[&str], profile: Profile) -> anyhow::Result<()> {
    let root = workspace_root();
    let (pid, running) = running_cluster(&root)?;
    if running != profile {
        // Building the other profile would roll out nothing new: the replicas restart from the
        // directory the cluster was started with.
        bail!(
            "the running cluster (PID {pid}) runs {} binaries: use `cargo xtask cluster restart{}`",
            running.dir_name(),
            restart_flags(running)
        );
    }
    build_binaries(&root, binaries, profile).await?;
    gateway::rolling::send_signal(pid, "HUP").await?;
    println!(
        "cluster: rolling restart requested (PID {pid}); its progress shows in the cluster's output"
    );
    Ok(())
}

/// What `cargo xtask cluster restart` is given for a cluster running `profile`.
fn restart_flags(profile: Profile) -> String {
    profile
        .build_flags()
        .iter()
        .map(|flag| format!(" {flag}"))
        .collect()
}

/// The profile a cluster started with `arguments` (its command line) runs.
fn profile_of(arguments: &[u8]) -> Profile {
    // /proc's command line: the arguments, each ended by a NUL.
    if arguments
        .split(|byte| *byte == 0)
        .any(|arg| arg == b"--release")
    {
        Profile::Release
    } else {
        Profile::Debug
    }
}

/// The PID in the PID file, if it is still an xtask, and the profile it runs: a file left by a
/// cluster that was killed may name a PID some other program has since been given, which must
/// not get the signal.
fn running_cluster(root: &Path) -> anyhow::Result<(u32, Profile)> {
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
    Ok((pid, profile_of(&command_line)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A command line as /proc shows it.
    fn proc_command_line(arguments: &[&str]) -> Vec<u8> {
        arguments
            .iter()
            .flat_map(|argument| argument.bytes().chain([0]))
            .collect()
    }

    #[test]
    fn the_running_clusters_profile_comes_from_its_command_line() {
        let profile = |arguments: &[&str]| profile_of(&proc_command_line(arguments));
        let xtask = "target/debug/xtask";
        assert_eq!(
            profile(&[xtask, "cluster", "--replicas", "3"]),
            Profile::Debug
        );
        assert_eq!(profile(&[xtask, "cluster", "--release"]), Profile::Release);
        assert_eq!(
            profile(&[xtask, "up", "--release", "--replicas", "3"]),
            Profile::Release
        );
        // A path that merely contains the word is no flag.
        assert_eq!(
            profile(&["/home/me/--release/target/debug/xtask", "cluster"]),
            Profile::Debug
        );
        assert_eq!(restart_flags(Profile::Release), " --release");
        assert_eq!(restart_flags(Profile::Debug), "");
    }
}
