//! Developer commands, run as `cargo xtask <command>`:
//!
//! - `up`: makes sure the local infrastructure runs, builds every service binary and starts
//!   each on its documented port with the development profile, prefixing their output with the
//!   service name. Ctrl-C or SIGTERM stops them all; a service that dies is reported.
//! - `infra`: makes sure PostgreSQL, Redis, RabbitMQ and NATS answer on their usual local ports,
//!   starting any that is down (used by `.ci/run` too).
//! - `demo`: against the running system, shows a user, products, an order placed and
//!   cancelled, its notification and its events read back from NATS, step by step.

mod demo;
mod infra;
mod up;

fn main() -> anyhow::Result<()> {
    let command = std::env::args().nth(1);
    let runtime = tokio::runtime::Runtime::new()?;
    match command.as_deref() {
        Some("up") => runtime.block_on(up::run()),
        Some("infra") => runtime.block_on(infra::ensure_running()),
        Some("demo") => runtime.block_on(demo::run()),
        _ => {
            eprintln!("usage: cargo xtask <up|infra|demo>");
            std::process::exit(2);
        }
    }
}
