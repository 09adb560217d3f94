//! Developer commands, run as `cargo xtask <command>`:
//!
//! - `up`: makes sure the local infrastructure runs, builds every service binary and starts
//!   each on its documented port with the development profile, prefixing their output with the
//!   service name. Ctrl-C or SIGTERM stops them all; a service that dies is reported.
//! - `cluster [--replicas N] [--port P]` (or `up --replicas N`): N replicas of every service
//!   in the production profile behind the real Traefik gateway on one public port (8080).
//! - `infra`: makes sure PostgreSQL, Redis, RabbitMQ and NATS answer on their usual local ports,
//!   starting any that is down.
//! - `test`: `infra`, then installs the offline checkers the deployment tests use and the
//!   contract tests' schemathesis (in `target/tools/python`) if missing, then
//!   `cargo test --workspace` (extra arguments are passed on). This is the test command.
//! - `docs`: regenerates the files rendered from code (docs/configuration.md, from the
//!   services' settings sections); a deployment test fails while they are out of date.
//! - `bench`: each endpoint beside its floor (bare handler, redis-benchmark, pgbench) in the
//!   same run, with the load average; writes the table into `docs/benchmarks.md`.
//! - `load`: the load generator with user journeys (`load/`, on goose) against the running
//!   system or a gateway; see `cargo xtask load --help`.
//! - `demo`: against the running system, shows a user, products, an order placed and
//!   cancelled, its notification and its events read back from NATS, step by step.

mod bench;
mod cluster;
mod demo;
mod infra;
mod load;
mod python_tools;
mod tools;
mod up;

fn main() -> anyhow::Result<()> {
    // reqwest is built without a crypto provider of its own; every command may make a client.
    service_runtime::server::install_crypto_provider();
    let command = std::env::args().nth(1);
    let runtime = tokio::runtime::Runtime::new()?;
    let rest: Vec<String> = std::env::args().skip(2).collect();
    match command.as_deref() {
        Some("up") if rest.is_empty() => runtime.block_on(up::run()),
        Some("up" | "cluster") => runtime.block_on(cluster::run(&rest)),
        Some("infra") => runtime.block_on(infra::ensure_running()),
        Some("test") => runtime.block_on(test()),
        Some("demo") => runtime.block_on(demo::run()),
        Some("docs") => runtime.block_on(docs()),
        Some("load") => runtime.block_on(load::run()),
        Some("bench") => runtime.block_on(bench::run()),
        _ => {
            eprintln!(
                "usage: cargo xtask <up [--replicas N]|cluster [--replicas N] [--port P]|infra|test|docs|demo|load|bench>"
            );
            std::process::exit(2);
        }
    }
}

async fn test() -> anyhow::Result<()> {
    infra::ensure_running().await?;
    tools::ensure_installed().await?;
    python_tools::ensure_installed().await?;
    let status =
        tokio::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["test", "--workspace"])
            .args(std::env::args().skip(2))
            .status()
            .await?;
    std::process::exit(status.code().unwrap_or(1));
}

/// The reference is rendered by the deployment test that checks it, so that xtask need not
/// depend on every service: with `UPDATE_DOCS=1` that test writes the file instead.
async fn docs() -> anyhow::Result<()> {
    let status =
        tokio::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["test", "-p", "system-tests", "--test", "deployment", "--"])
            .arg("configuration::configuration_reference_matches_the_settings_sections")
            .env("UPDATE_DOCS", "1")
            .status()
            .await?;
    anyhow::ensure!(status.success(), "rendering the docs failed");
    println!("docs: wrote docs/configuration.md");
    Ok(())
}
