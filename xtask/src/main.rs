//! Developer commands, run as `cargo xtask <command>`; `cargo xtask help` lists them and
//! `cargo xtask <command> --help` (or `-h`) prints one's usage without running anything (the
//! texts and the reading of options are in `command_line.rs`). An unknown option is refused
//! with the usage and exit code 2.
//!
//! - `up`: makes sure the local infrastructure runs, builds every service binary and starts
//!   each on its documented port with the development profile, prefixing their output with the
//!   service name. Ctrl-C or SIGTERM stops them all; a service that dies is reported.
//! - `cluster [--replicas N] [--port P] [--release]` (or `up --replicas N`): N replicas of
//!   every service in the production profile behind the real HAProxy gateway on one public
//!   port (8080); debug binaries unless `--release`. `cluster restart [--release]`: builds,
//!   then restarts the running cluster's replicas one at a time without failing a request.
//! - `infra`: makes sure PostgreSQL, Redis, RabbitMQ and NATS answer on their usual local ports,
//!   starting any that is down.
//! - `test`: `infra`, then installs the offline checkers the deployment tests use and the
//!   contract tests' schemathesis (in `~/.cache/shop-tools/python`) if missing, builds the load
//!   generator, then `cargo nextest run --workspace` (extra arguments are passed on, less a
//!   leading `--`, so `test -- --help` is nextest's help; groups and parallelism in
//!   `.config/nextest.toml`). This is the test command.
//! - `docs`: regenerates the files rendered from code (docs/configuration.md, from the
//!   services' settings sections; the event schema and AsyncAPI document, from `events/`);
//!   a test fails while any of them is out of date.
//! - `bench [--quick] [--duration SECS]`: release builds of the services, then each endpoint
//!   beside its floor (bare handler, redis-benchmark, pgbench) in the same run, with the load
//!   average; writes the table into `docs/benchmarks.md`.
//! - `load`: the load generator with user journeys (`load/`, on goose) against the running
//!   system or a gateway; `cargo xtask load --help` lists its options.
//! - `chaos [--duration 60s] [--seed N] [--schedule FILE]`: the replicated system with every
//!   host on a network namespace of its own (root only), a recorded workload, a fault
//!   schedule, the checker of the history and a report (docs/reliability.md).
//! - `demo`: against the running system, shows a user, products, an order placed and
//!   cancelled, its notification and its events read back from NATS, step by step.

mod bench;
mod cargo;
mod cluster;
mod command_line;
mod demo;
mod infra;
mod load;
mod python_tools;
mod tools;
mod up;

use command_line::{Request, Run};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // Read whole before anything starts: help and mistakes never build or start a thing.
    let run = match command_line::parse(&args) {
        Request::Help(usage) => {
            println!("{usage}");
            return Ok(());
        }
        Request::Mistake(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
        Request::Run(run) => run,
    };
    // reqwest is built without a crypto provider of its own; every command may make a client.
    shop_http::server::install_crypto_provider();
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        match run {
            Run::Up => up::run().await,
            Run::Cluster(options) => cluster::run(options).await,
            Run::ClusterRestart { profile } => cluster::restart(profile).await,
            Run::Infra => infra::ensure_running().await,
            Run::Test { nextest_args } => test(&nextest_args).await,
            Run::NextestHelp { nextest_args } => nextest_help(&nextest_args).await,
            Run::Docs => docs().await,
            Run::Demo => demo::run().await,
            Run::Load { args } => load::run(&args).await,
            Run::Bench(options) => bench::run(options).await,
            Run::Chaos { args } => chaos_run(&args).await,
        }
    })
}

/// `cargo xtask chaos`: refuses at once without root, else builds the services and runs.
async fn chaos_run(args: &[String]) -> anyhow::Result<()> {
    let root = up::workspace_root();
    let target = cargo::target_dir(&root);
    let options = match chaos::run::parse_options(args, &target) {
        Ok(Some(options)) => options,
        Ok(None) => {
            println!("{}", chaos::run::USAGE);
            return Ok(());
        }
        Err(mistake) => {
            eprintln!("chaos: {mistake:#}");
            std::process::exit(2);
        }
    };
    if let Err(error) = chaos::lab::require_root() {
        eprintln!("{error}");
        std::process::exit(1);
    }
    tools::ensure_haproxy().await?;
    // The chaos run takes its binaries from the debug directory (`Options::binaries`).
    up::build_binaries(
        &root,
        &gateway::Service::ALL.map(gateway::Service::binary),
        cargo::Profile::Debug,
    )
    .await?;
    match chaos::run::run(&options).await {
        Ok(true) => {}
        Ok(false) => {
            eprintln!("chaos: FAILED (see above)");
            std::process::exit(1);
        }
        Err(error) => {
            eprintln!("chaos: {error:#}");
            std::process::exit(1);
        }
    }
    println!("chaos: passed");
    Ok(())
}

/// `cargo xtask test -- --help`: nextest's help, without starting or installing anything.
async fn nextest_help(nextest_args: &[String]) -> anyhow::Result<()> {
    tools::ensure_nextest().await?;
    let status = cargo::command()
        .args(["nextest", "run"])
        .args(nextest_args)
        .status()
        .await?;
    std::process::exit(status.code().unwrap_or(1));
}

async fn test(nextest_args: &[String]) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    infra::ensure_running().await?;
    tools::ensure_installed().await?;
    python_tools::ensure_installed().await?;
    tools::ensure_nextest().await?;
    load::build_for_tests().await?;
    // Production refuses `guest`, and every test is a process of its own under nextest: one
    // broker user for the whole run spares each process its own `rabbitmqctl` round trips.
    let broker_user = test_support::broker::TempBrokerUser::replace(
        &format!("test-run-{}", std::process::id()),
        &uuid::Uuid::new_v4().simple().to_string(),
    )
    .map_err(anyhow::Error::msg)?;
    println!(
        "xtask test: services, tools and the load generator ready after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // Test groups and parallelism are in .config/nextest.toml.
    let tests = cargo::command()
        .args(["nextest", "run", "--workspace"])
        .args(nextest_args)
        .env(TEST_BROKER_URL_VAR, broker_user.url())
        .status()
        .await?;
    drop(broker_user);
    if !tests.success() {
        std::process::exit(tests.code().unwrap_or(1));
    }
    println!(
        "xtask test: tests done after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Where test processes find the run's broker URL (read by `test_support::broker::service_url`).
const TEST_BROKER_URL_VAR: &str = "SHOP_TEST_AMQP_URL";

/// The documents rendered from code, each by an ignored test beside the test that checks it
/// (so that xtask need not depend on every service): package, test binary, writer.
const DOC_WRITERS: [(&str, &str, &str); 2] = [
    (
        "system-tests",
        "deployment",
        "configuration::write_the_configuration_reference",
    ),
    ("order-events", "docs", "write_the_generated_documents"),
];

async fn docs() -> anyhow::Result<()> {
    for (package, binary, writer) in DOC_WRITERS {
        let status = cargo::command()
            .args(["test", "-p", package, "--test", binary, "--"])
            .args([writer, "--exact", "--ignored"])
            .status()
            .await?;
        anyhow::ensure!(status.success(), "{writer} failed");
    }
    println!("docs: wrote docs/configuration.md, docs/events.schema.json and docs/asyncapi.json");
    Ok(())
}
