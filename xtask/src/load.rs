//! `cargo xtask load [OPTIONS] [-- GOOSE OPTIONS]`: builds the load generator (`load/`, a
//! workspace of its own) in release and runs it with the arguments given. It targets the
//! services on their usual ports unless told otherwise (`--gateway URL`, `--product-url`, …);
//! `cargo xtask load --help` lists the options (xtask's copy of the generator's, so that help
//! needs no release build; a test keeps the two in step). Its exit code is the generator's: 3
//! when a `--threshold` (SLO) was missed, 1 or 2 when the run failed otherwise.

use std::path::PathBuf;

use anyhow::Context;

/// The generator's crate, and where it builds.
pub fn paths() -> (PathBuf, PathBuf) {
    let root = crate::up::workspace_root();
    // The workspace's own target directory: a dependency built with the same version and
    // features (syn, serde, tokio's macros, …) is compiled once for both workspaces.
    (root.join("load/Cargo.toml"), root.join("target"))
}

/// Builds the generator as the load smoke test runs it (debug), so that no test spends its
/// time compiling a workspace of its own.
pub async fn build_for_tests() -> anyhow::Result<()> {
    let (manifest, target_dir) = paths();
    let status = crate::cargo::command()
        .args(["build", "--quiet", "--manifest-path"])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target_dir)
        .status()
        .await
        .context("running cargo for the load generator")?;
    anyhow::ensure!(status.success(), "building the load generator failed");
    Ok(())
}

/// Builds the generator and runs it with `args`.
pub async fn run(args: &[String]) -> anyhow::Result<()> {
    let (manifest, target_dir) = paths();
    let status = crate::cargo::command()
        .arg("run")
        .arg("--release")
        .arg("--quiet")
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target_dir)
        .arg("--")
        .args(args)
        .status()
        .await
        .context("running cargo for the load generator")?;
    std::process::exit(status.code().unwrap_or(1));
}
