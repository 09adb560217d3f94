//! Command-line tools the test suite runs to check deployment files offline: `nix-instantiate`
//! (Nix syntax), `docker-compose` (Compose file), `promtool` and `prometheus` (rules, config,
//! dashboard queries), and for the live observability test the Redis exporter and
//! `rabbitmq-server` (a private node with its Prometheus plugin), and Chromium with chromedriver
//! for the storefront's browser tests. Missing ones are installed
//! from Debian's packages when running as root.

use anyhow::{Context, bail};
use tokio::process::Command;

/// (executable, Debian package).
const TOOLS: [(&str, &str); 8] = [
    ("nix-instantiate", "nix-bin"),
    ("docker-compose", "docker-compose"),
    ("promtool", "prometheus"),
    ("prometheus", "prometheus"),
    ("prometheus-redis-exporter", "prometheus-redis-exporter"),
    ("rabbitmq-server", "rabbitmq-server"),
    // The storefront's browser tests drive a real headless Chromium through chromedriver.
    ("chromium", "chromium"),
    ("chromedriver", "chromium-driver"),
];

async fn on_path(executable: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {executable}"))
        .output()
        .await
        .is_ok_and(|output| output.status.success())
}

pub async fn ensure_installed() -> anyhow::Result<()> {
    let mut packages = Vec::new();
    for (executable, package) in TOOLS {
        if !on_path(executable).await && !packages.contains(&package) {
            packages.push(package);
        }
    }
    if packages.is_empty() {
        return Ok(());
    }
    println!("tools: installing {}", packages.join(" "));
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .await
        .is_ok_and(|output| output.stdout.starts_with(b"0"));
    if !is_root {
        bail!(
            "missing tools; install the Debian packages {} (or use `nix develop`)",
            packages.join(" ")
        );
    }
    let install = format!(
        "apt-get install -y --no-install-recommends {0} || \
         (apt-get update && apt-get install -y --no-install-recommends {0})",
        packages.join(" ")
    );
    let status = Command::new("sh")
        .arg("-c")
        .arg(install)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .await
        .context("running apt-get")?;
    if !status.success() {
        bail!("apt-get could not install {}", packages.join(" "));
    }
    Ok(())
}
