//! The built `xtask` answers `--help` with its usage and starts nothing.
//!
//! Each run gets an environment in which no program can be found (PATH and CARGO name nothing
//! that exists; with PATH unset, exec would fall back to /bin:/usr/bin): were help ever to fall
//! through to the command, it would fail at its first tool or build instead of starting the
//! local infrastructure or a benchmark, and the checks below would see its output and exit
//! code.

use std::process::{Command, Output};

fn xtask(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .env_clear()
        .env("PATH", "/nonexistent")
        .env("CARGO", "/nonexistent/cargo")
        .output()
        .expect("the xtask binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn bench_help_prints_the_usage_and_runs_no_benchmark() {
    for flag in ["--help", "-h"] {
        let output = xtask(&["bench", flag]);
        let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
        assert!(
            output.status.success(),
            "{flag}: {:?}\n{stderr}",
            output.status
        );
        assert!(
            stdout.starts_with("usage: cargo xtask bench"),
            "{flag}: {stdout}"
        );
        // What a run prints first (the infrastructure check, cargo's build) and last.
        assert_eq!(stderr, "", "{flag}: nothing but the usage");
        assert!(!stdout.contains("docs/benchmarks.md updated"), "{stdout}");
        assert!(!stdout.contains("| "), "no table row: {stdout}");
    }
}

#[test]
fn the_command_list_names_every_command() {
    for args in [&["--help"][..], &["help"], &["-h"]] {
        let output = xtask(args);
        let stdout = text(&output.stdout);
        assert!(output.status.success(), "{args:?}");
        for command in [
            "up", "cluster", "infra", "test", "docs", "demo", "load", "bench", "chaos",
        ] {
            assert!(
                stdout.contains(&format!("\n  {command} ")),
                "{args:?} lists {command}: {stdout}"
            );
        }
    }
}

#[test]
fn an_unknown_option_is_refused_with_the_usage_and_exit_code_2() {
    let output = xtask(&["infra", "--bogus"]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("unknown option --bogus"), "{stderr}");
    assert!(stderr.contains("usage: cargo xtask infra"), "{stderr}");
    assert_eq!(text(&output.stdout), "");
}
