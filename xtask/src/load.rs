//! `cargo xtask load [OPTIONS] [-- GOOSE OPTIONS]`: builds the load generator (`load/`, a
//! workspace of its own) in release and runs it with the arguments given. It targets the
//! services on their usual ports unless told otherwise (`--gateway URL`, `--product-url`, …);
//! `cargo xtask load --help` lists the options. Its exit code is the generator's: non-zero when
//! a `--threshold` (SLO) was missed.

use std::path::PathBuf;

use anyhow::Context;
use tokio::process::Command;

/// The generator's crate, and where it builds.
pub fn paths() -> (PathBuf, PathBuf) {
    let root = crate::up::workspace_root();
    (root.join("load/Cargo.toml"), root.join("target/load"))
}

pub async fn run() -> anyhow::Result<()> {
    let (manifest, target_dir) = paths();
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .arg("run")
        .arg("--release")
        .arg("--quiet")
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target_dir)
        .arg("--")
        .args(std::env::args().skip(2))
        .status()
        .await
        .context("running cargo for the load generator")?;
    std::process::exit(status.code().unwrap_or(1));
}
