//! `cargo xtask up`: the whole system on one machine, for development.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use crate::cargo::Profile;

/// Development admin that `up` makes sure exists.
pub const DEV_ADMIN: (&str, &str) = ("admin", "admin-password");

/// A service binary and how `up` runs it. Entries whose package directory does not exist yet
/// are skipped, so the launcher keeps working as services land.
struct Program {
    name: &'static str,
    package_dir: &'static str,
    port: u16,
    env: &'static [(&'static str, &'static str)],
}

/// The credential services present on each other's internal routes (`X-Service-Token`); a
/// development value, the same one the development profile defaults to.
const DEV_SERVICE_TOKEN: &str = "dev-service-token";

const PROGRAMS: &[Program] = &[
    Program {
        name: "user-service",
        package_dir: "services/user",
        port: 8001,
        env: &[
            ("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/users"),
            ("BOOTSTRAP_ADMIN_USERNAME", DEV_ADMIN.0),
            ("BOOTSTRAP_ADMIN_PASSWORD", DEV_ADMIN.1),
        ],
    },
    Program {
        name: "product-service",
        package_dir: "services/product",
        port: 8002,
        env: &[
            (
                "DATABASE_URL",
                "postgres://postgres@127.0.0.1:5432/products",
            ),
            ("REDIS_URL", "redis://127.0.0.1:6379"),
            ("USER_SERVICE_URL", "http://127.0.0.1:8001"),
            ("SERVICE_TOKEN", DEV_SERVICE_TOKEN),
        ],
    },
    Program {
        name: "order-service",
        package_dir: "services/order",
        port: 8003,
        env: &[
            ("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/orders"),
            ("USER_SERVICE_URL", "http://127.0.0.1:8001"),
            ("PRODUCT_SERVICE_URL", "http://127.0.0.1:8002"),
            ("SERVICE_TOKEN", DEV_SERVICE_TOKEN),
        ],
    },
    Program {
        name: "notification-service",
        package_dir: "services/notification",
        port: 8004,
        // The log channel needs no mail server or webhook receiver on a developer machine.
        env: &[("NOTIFY_CHANNELS", "log")],
    },
    Program {
        name: "event-bridge",
        package_dir: "services/bridge",
        port: 8005,
        // Defaults: RabbitMQ and NATS on their local ports, stream ORDER_EVENTS, `events.>`.
        env: &[],
    },
    Program {
        name: "storefront",
        package_dir: "services/storefront",
        port: 8006,
        // Defaults: the services above on their ports, NATS on 4222; the development profile
        // brings its own CSRF key.
        env: &[],
    },
];

/// Builds the named binaries in `profile`; returns the directory they are in.
pub async fn build_binaries(
    root: &Path,
    names: &[&str],
    profile: Profile,
) -> anyhow::Result<PathBuf> {
    let mut build = crate::cargo::command();
    build
        .current_dir(root)
        .arg("build")
        .args(profile.build_flags());
    for name in names {
        build.args(["--bin", name]);
    }
    if !build
        .status()
        .await
        .context("running cargo build")?
        .success()
    {
        bail!("cargo build failed");
    }
    Ok(crate::cargo::target_dir(root).join(profile.dir_name()))
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

pub async fn run() -> anyhow::Result<()> {
    crate::infra::ensure_running().await?;
    let root = workspace_root();
    let programs: Vec<&Program> = PROGRAMS
        .iter()
        .filter(|program| root.join(program.package_dir).is_dir())
        .collect();

    let names: Vec<&str> = programs.iter().map(|program| program.name).collect();
    let target = build_binaries(&root, &names, Profile::Debug).await?;
    let (exits, mut exited) = mpsc::unbounded_channel::<(&'static str, String)>();
    let mut pids = Vec::new();
    for program in &programs {
        let child = Command::new(target.join(program.name))
            .current_dir(&root)
            .env("APP_PROFILE", "development")
            .env("LOG_FORMAT", "pretty")
            .env("PORT", program.port.to_string())
            .envs(program.env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", program.name))?;
        pids.push(child.id());
        supervise(program.name, child, exits.clone());
        println!(
            "up: {:<22} http://127.0.0.1:{}  (docs: /docs, metrics: /metrics)",
            program.name, program.port
        );
    }
    println!(
        "up: development admin: username {:?}, password {:?}",
        DEV_ADMIN.0, DEV_ADMIN.1
    );
    println!("up: Ctrl-C stops everything");

    let mut terminate = signal(SignalKind::terminate())?;
    let mut remaining = programs.len();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
        Some((name, status)) = exited.recv() => {
            remaining -= 1;
            eprintln!("up: {name} exited unexpectedly ({status}); stopping the others");
        }
    }
    for pid in pids.into_iter().flatten() {
        // SIGTERM, so each service drains and flushes its traces.
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await;
    }
    while remaining > 0 {
        match exited.recv().await {
            Some((name, status)) => {
                println!("up: {name} stopped ({status})");
                remaining -= 1;
            }
            None => break,
        }
    }
    Ok(())
}

/// Copies the child's output line by line with a name prefix and reports its exit.
pub fn supervise(
    name: &'static str,
    mut child: Child,
    exits: mpsc::UnboundedSender<(&'static str, String)>,
) {
    forward_output(name, &mut child);
    tokio::spawn(async move {
        let status = match child.wait().await {
            Ok(status) => status.to_string(),
            Err(error) => error.to_string(),
        };
        let _ = exits.send((name, status));
    });
}

/// Copies the child's piped stdout and stderr to ours, line by line with a name prefix.
pub fn forward_output(name: &'static str, child: &mut Child) {
    if let Some(stdout) = child.stdout.take() {
        tokio::spawn(prefix_lines(name, stdout));
    }
    if let Some(stderr) = child.stderr.take() {
        tokio::spawn(prefix_lines(name, stderr));
    }
}

async fn prefix_lines(name: &'static str, stream: impl AsyncRead + Unpin) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        println!("{name:>20} | {line}");
    }
}
