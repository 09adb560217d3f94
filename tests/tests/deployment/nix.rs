//! Nix: syntax of every file, and coverage of every binary by a package, an image and a port.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{repo_root, workspace_binaries};

fn files_with_extension(dir: &Path, extension: &str, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable directory") {
        let path = entry.expect("directory entry").path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if !name.starts_with('.') && name != "target" {
                files_with_extension(&path, extension, found);
            }
        } else if name.ends_with(extension) {
            found.push(path);
        }
    }
}

#[test]
fn every_nix_file_parses() {
    let mut files = Vec::new();
    files_with_extension(&repo_root(), ".nix", &mut files);
    assert!(
        files.len() >= 5,
        "expected flake.nix and nix/*.nix, found {files:?}"
    );
    for file in files {
        let output = Command::new("nix-instantiate")
            .arg("--parse")
            .arg(&file)
            .output()
            .expect("nix-instantiate is installed (cargo xtask test installs it)");
        assert!(
            output.status.success(),
            "{} does not parse: {}",
            file.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn every_service_binary_has_a_nix_package_an_image_and_a_port() {
    let workspace = std::fs::read_to_string(repo_root().join("nix/workspace.nix")).unwrap();
    let binaries = workspace_binaries();
    assert!(
        binaries.contains(&"user-service".to_owned()),
        "{binaries:?}"
    );
    for binary in &binaries {
        // `crates` maps each binary to its crate; images.nix builds an image for every entry.
        assert!(
            workspace
                .lines()
                .any(|line| line.trim_start().starts_with(&format!("{binary} = \""))),
            "nix/workspace.nix builds no package for {binary}"
        );
        assert!(
            workspace
                .lines()
                .any(|line| line.trim_start().starts_with(&format!("{binary} = 80"))),
            "nix/workspace.nix gives {binary} no port for its image"
        );
    }
    let images = std::fs::read_to_string(repo_root().join("nix/images.nix")).unwrap();
    assert!(images.contains("builtins.mapAttrs image binaries"));
}
