//! Cargo as xtask runs it.
//!
//! `cargo xtask …` is `cargo run -p xtask`, so this process carries the variables cargo sets
//! for a package it runs (`CARGO_MANIFEST_DIR=…/xtask`, `CARGO_PKG_NAME=xtask`, …). Some build
//! scripts (ring's, which rustls and so the whole TLS stack depend on) rerun when one of those
//! changes, so a cargo started with them rebuilt that stack after every plain `cargo build`,
//! and the next plain build rebuilt it back: about a minute each way on two cores.

use std::path::{Path, PathBuf};

use tokio::process::Command;

/// The profile binaries are built with, and so the directory under the target they land in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    Debug,
    Release,
}

impl Profile {
    /// The directory under the target directory.
    pub fn dir_name(self) -> &'static str {
        match self {
            Self::Debug => "debug",
            Self::Release => "release",
        }
    }

    /// What `cargo build` needs to be told for it.
    pub fn build_flags(self) -> &'static [&'static str] {
        match self {
            Self::Debug => &[],
            Self::Release => &["--release"],
        }
    }
}

/// Where cargo puts what it builds in the workspace at `root`: `CARGO_TARGET_DIR` when set (the
/// inner cargo inherits it and, running in `root`, reads a relative one from there), `target`
/// otherwise.
pub fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), |dir| root.join(dir))
}

/// Variables cargo sets for the package it runs, which no inner cargo should inherit.
fn set_for_the_running_package(key: &str) -> bool {
    key.starts_with("CARGO_PKG_")
        || matches!(
            key,
            "CARGO_MANIFEST_DIR"
                | "CARGO_MANIFEST_PATH"
                | "CARGO_MANIFEST_LINKS"
                | "CARGO_CRATE_NAME"
                | "CARGO_BIN_NAME"
                | "CARGO_PRIMARY_PACKAGE"
        )
}

/// A `cargo` command (the one running xtask) with an environment as if typed in a shell.
pub fn command() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    for (key, _) in std::env::vars_os() {
        if let Some(key) = key.to_str()
            && set_for_the_running_package(key)
        {
            command.env_remove(key);
        }
    }
    command
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_running_packages_variables_are_dropped() {
        for key in [
            "CARGO_MANIFEST_DIR",
            "CARGO_PKG_NAME",
            "CARGO_PKG_VERSION_MAJOR",
        ] {
            assert!(set_for_the_running_package(key), "{key}");
        }
        for key in [
            "CARGO_HOME",
            "CARGO_TARGET_DIR",
            "CARGO",
            "RUSTFLAGS",
            "PATH",
        ] {
            assert!(!set_for_the_running_package(key), "{key}");
        }
    }
}
