//! `cargo xtask bench [--quick] [--duration SECS]`: each endpoint beside its floor, measured in
//! the same run, with the load average at the time, written into `docs/benchmarks.md`.
//!
//! Floors: a bare salvo handler answering the same product JSON
//! (`services/product/examples/bare_floor.rs`), `redis-benchmark` GETs, and `pgbench` running
//! the reservation's own statement (conditional stock UPDATE + reservation INSERT, prepared as
//! the service prepares it) on one hot row and spread over the catalogue, then every statement
//! one order costs (`orders.rs`). The Product Service runs beside them against the local
//! PostgreSQL and Redis (database `bench_products`, keys under `bench:`), then the User and
//! Order Services join it for `POST /orders`; wrk (installed from Debian's packages when
//! missing) loads them. The gateway (HAProxy) is measured in front of two bare handlers, then in
//! front of two Product Service replicas (`gateway.rs`).
//!
//! A floor and the lines compared with it take turns: three rounds of a third of the duration
//! each, and each line is its median round (`load_tools::in_turns`). The shared machine's speed
//! drifts by tens of percent over minutes, and both sides of a ratio should see the same drift.
//!
//! `--quick` uses the debug build and 3 s runs: it checks that the command works, its figures
//! are not benchmarks.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::process::{Child, Command};

use load_tools::{Figure, Load, Protocol, ROUNDS, in_turns, redis_benchmark, turn_seconds};

use ::gateway::ephemeral_port as free_port;

use crate::cargo::Profile;
use crate::command_line::BenchOptions;

mod gateway;
mod load_tools;
mod orders;

pub(crate) const DATABASE: &str = "bench_products";
const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432";
const ROWS: u32 = 1000;
const ROWS_TEXT: &str = "1000";
/// The two shapes of write load: every request on one row, or spread over the catalogue.
const SPREADS: [(bool, &str); 2] = [(true, "one hot row"), (false, "spread over 1,000 rows")];
pub(crate) const CONNECTIONS: &str = "32";

/// One measured line: what, its figures, and the floor it is compared with.
struct Line {
    what: String,
    figure: Figure,
    floor: Option<(String, f64)>,
    load: String,
}

pub async fn run(options: BenchOptions) -> anyhow::Result<()> {
    let BenchOptions { quick, seconds } = options;
    crate::infra::ensure_running().await?;
    crate::tools::install_missing(&[("wrk", "wrk")]).await?;
    crate::tools::ensure_haproxy().await?;
    let root = crate::up::workspace_root();
    let binaries = build(&root, quick).await?;
    let mut lines = Vec::new();
    let mut children = Vec::new();
    let outcome = measure(&root, &binaries, seconds, &mut lines, &mut children).await;
    for mut child in children {
        let _ = child.kill().await;
    }
    cleanup().await;
    outcome?;
    let table = render(&lines, quick, seconds);
    println!("{table}");
    write_docs(&root.join("docs/benchmarks.md"), &table)?;
    println!("docs/benchmarks.md updated");
    Ok(())
}

async fn measure(
    root: &Path,
    binaries: &Path,
    seconds: u32,
    lines: &mut Vec<Line>,
    children: &mut Vec<Child>,
) -> anyhow::Result<()> {
    let (floor_port, service_port) = (free_port()?, free_port()?);
    cleanup().await;
    children.push(start_bare_floor(binaries, floor_port)?);
    children.push(start_product_service(binaries, service_port)?);
    let service = format!("http://127.0.0.1:{service_port}");
    let floor_url = format!("http://127.0.0.1:{floor_port}");
    wait_for(&format!("{service}/health/ready")).await?;
    wait_for(&format!("{floor_url}/products/1")).await?;
    fill_catalogue(&service).await?;

    let proxies = gateway::Proxies::start(root, binaries, &service).await?;
    let reads = measure_reads(root, seconds, &floor_url, &service, &proxies, lines).await;
    proxies.stop().await;
    reads?;
    let redis = redis_benchmark().await?;
    lines.push(line(
        "redis-benchmark GET, 32 connections (floor)",
        redis,
        None,
    ));
    measure_reservations(root, seconds, &service, lines).await?;
    orders::measure(root, binaries, &service, seconds, lines, children).await
}

/// The bare salvo handler answering the product JSON on `port`.
fn start_bare_floor(binaries: &Path, port: u16) -> anyhow::Result<Child> {
    Command::new(binaries.join("examples/bare_floor"))
        .arg(port.to_string())
        .kill_on_drop(true)
        .spawn()
        .context("starting the bare floor")
}

/// The Product Service on `port`, against the bench database and keys.
fn start_product_service(binaries: &Path, port: u16) -> anyhow::Result<Child> {
    let port = port.to_string();
    let database_url = format!("{POSTGRES}/{DATABASE}");
    Command::new(binaries.join("product-service"))
        .envs([
            ("APP_PROFILE", "development"),
            ("HOST", "127.0.0.1"),
            ("PORT", port.as_str()),
            ("DATABASE_URL", database_url.as_str()),
            ("CACHE_KEY_PREFIX", "bench:"),
        ])
        // The default log level (info, JSON), as deployed: request spans are on.
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("starting the product service")
}

/// `ROWS` products in the bench database, then product 1 read once through `service`.
async fn fill_catalogue(service: &str) -> anyhow::Result<()> {
    psql(&format!(
        "INSERT INTO products (name, description, price, quantity, created_at, updated_at) \
         SELECT 'item ' || g, 'benchmark product ' || g, (g % 1000) + 0.99, 100000000, \
                '2026-11-25T00:00:00Z', '2026-11-25T00:00:00Z' \
         FROM generate_series(1, {ROWS}) g; ANALYZE products;"
    ))
    .await?;
    reqwest::get(format!("{service}/products/1")).await?;
    Ok(())
}

/// The floor a line is compared with: its name in the table and its index among the loads.
type Beside = Option<(&'static str, usize)>;

/// The bare handler, the Product Service's health and catalogue reads, and the proxies, their
/// loads taking turns; each beside its floor.
async fn measure_reads(
    root: &Path,
    seconds: u32,
    floor_url: &str,
    service: &str,
    proxies: &gateway::Proxies,
    lines: &mut Vec<Line>,
) -> anyhow::Result<()> {
    let script = root.join("docs/bench/report.lua");
    let get = |path: &str| Load::Wrk {
        script: &script,
        url: path.to_owned(),
        env: Vec::new(),
    };
    // Each line: what it is, and the name and position of the line it is compared with.
    let mut described: Vec<(&str, Beside)> = Vec::new();
    let mut loads = Vec::new();
    let mut add = |what, load, beside| {
        described.push((what, beside));
        loads.push(load);
        loads.len() - 1
    };
    let floor = add(
        "bare salvo handler, same JSON (floor)",
        get(&format!("{floor_url}/products/1")),
        None,
    );
    let live = add(
        "GET /health/live (the middleware only)",
        get(&format!("{service}/health/live")),
        Some(("floor", floor)),
    );
    add(
        "GET /health (background probe)",
        get(&format!("{service}/health")),
        Some(("/health/live", live)),
    );
    add(
        "GET /products/{id} cached",
        get(&format!("{service}/products/1")),
        Some(("floor", floor)),
    );
    add(
        "GET /products?limit=20 (page cache)",
        get(&format!("{service}/products?limit=20")),
        Some(("floor", floor)),
    );
    add(
        "HAProxy, plain HTTP, one forwarding rule, 2 bare handlers behind it",
        get(&proxies.plain_url("/products/1")),
        Some(("floor", floor)),
    );
    let gateway_floor = add(
        "the gateway's floor: HTTPS, our routes and edge rules, 2 bare handlers behind it",
        get(&proxies.gateway_floor_url("/products/1")),
        Some(("floor", floor)),
    );
    add(
        "GET /products/{id} cached, through the gateway, 2 replicas",
        get(&proxies.api_url("/products/1")),
        Some(("the gateway's floor", gateway_floor)),
    );
    let figures = in_turns(&loads, seconds).await?;
    for ((what, beside), figure) in described.into_iter().zip(&figures) {
        let beside = beside.map(|(name, index)| (name, figures[index]));
        lines.push(line(what, *figure, beside));
    }
    Ok(())
}

/// For each spread: pgbench running the reservation statement and the reservation endpoint,
/// taking turns.
async fn measure_reservations(
    root: &Path,
    seconds: u32,
    service: &str,
    lines: &mut Vec<Line>,
) -> anyhow::Result<()> {
    let reserve = root.join("docs/bench/reserve.lua");
    let reserve_floor = root.join("docs/bench/reserve-floor.sql");
    for (hot, name) in SPREADS {
        let hot = if hot { "1" } else { "0" };
        let loads = [
            Load::Pgbench {
                script: &reserve_floor,
                database: DATABASE,
                variables: vec![("hot", hot), ("rows", ROWS_TEXT)],
                protocol: Protocol::Prepared,
            },
            Load::Wrk {
                script: &reserve,
                url: service.to_owned(),
                env: vec![("HOT", hot.to_owned()), ("ROWS", ROWS_TEXT.to_owned())],
            },
        ];
        let figures = in_turns(&loads, seconds).await?;
        let (floor, endpoint) = (figures[0], figures[1]);
        let label = format!("pgbench -M prepared: the reservation statement, {name} (floor)");
        lines.push(line(&label, floor, None));
        let label = format!("POST /internal/reservations, {name}");
        lines.push(line(&label, endpoint, Some(("pgbench", floor))));
    }
    Ok(())
}

/// A line of the table; its load average is the one read as its figure's run ended.
fn line(what: &str, figure: Figure, floor: Option<(&str, Figure)>) -> Line {
    let load = figure
        .load_average
        .map(|[one, five, fifteen]| format!("{one:.2} {five:.2} {fifteen:.2}"))
        .unwrap_or_default();
    Line {
        what: what.to_owned(),
        figure,
        floor: floor.map(|(name, floor)| (name.to_owned(), floor.per_sec)),
        load,
    }
}

fn render(lines: &[Line], quick: bool, seconds: u32) -> String {
    let mut text = String::new();
    let build = if quick {
        "debug build (--quick: not a benchmark)"
    } else {
        "release build"
    };
    let _ = writeln!(
        text,
        "Command: `cargo xtask bench{}` ({build}, wrk -t2 -c{CONNECTIONS}, pgbench \
         -c{CONNECTIONS} -j2; each line the median of {ROUNDS} turns of {}s, taken in turn \
         with its floor's). Run of {} UTC, commit {}.\n",
        if quick { " --quick" } else { "" },
        turn_seconds(seconds),
        now(),
        commit(),
    );
    text.push_str("| what | per second | p50 | p99 | beside its floor | load average |\n");
    text.push_str("|---|---:|---:|---:|---|---|\n");
    let ms = |value: Option<f64>| value.map_or("—".to_owned(), |ms| format!("{ms:.2} ms"));
    for line in lines {
        let ratio = line.floor.as_ref().map_or("—".to_owned(), |(name, floor)| {
            format!(
                "{:.0} % of {name}",
                100.0 * line.figure.per_sec / floor.max(1.0)
            )
        });
        let _ = writeln!(
            text,
            "| {} | {:.0} | {} | {} | {ratio} | {} |",
            line.what,
            line.figure.per_sec,
            ms(line.figure.p50_ms),
            ms(line.figure.p99_ms),
            line.load
        );
    }
    text
}

/// Replaces what lies between the bench markers in `docs/benchmarks.md`.
fn write_docs(path: &Path, table: &str) -> anyhow::Result<()> {
    const START: &str = "<!-- cargo xtask bench: start -->";
    const END: &str = "<!-- cargo xtask bench: end -->";
    let text = std::fs::read_to_string(path)?;
    let (Some(start), Some(end)) = (text.find(START), text.find(END)) else {
        bail!("{} lacks the bench markers", path.display());
    };
    let updated = format!("{}{START}\n{table}{}", &text[..start], &text[end..]);
    std::fs::write(path, updated)?;
    Ok(())
}

async fn build(root: &Path, quick: bool) -> anyhow::Result<PathBuf> {
    let profile = if quick {
        Profile::Debug
    } else {
        Profile::Release
    };
    let mut cargo = crate::cargo::command();
    cargo.current_dir(root).args(["build"]);
    for package in ["product-service", "user-service", "order-service"] {
        cargo.args(["-p", package, "--bin", package]);
    }
    cargo.args(["--example", "bare_floor"]);
    cargo.args(profile.build_flags());
    if !cargo.status().await?.success() {
        bail!("the build failed");
    }
    // Cargo builds into CARGO_TARGET_DIR when it is set, not into the workspace's `target`.
    Ok(crate::cargo::target_dir(root).join(profile.dir_name()))
}

/// Runs `sql` in the bench database.
async fn psql(sql: &str) -> anyhow::Result<()> {
    psql_in(DATABASE, sql, &[]).await
}

/// Runs `sql` (or with `-f`, a file) in `database`, stopping at the first error; `environment`
/// reaches psql (e.g. `PGOPTIONS`).
async fn psql_in(database: &str, sql: &str, environment: &[(&str, &str)]) -> anyhow::Result<()> {
    let status = Command::new("psql")
        .args(["-h", "127.0.0.1", "-U", "postgres", "-v", "ON_ERROR_STOP=1"])
        .args(["-d", database, "-q"])
        .args(if sql.ends_with(".sql") {
            ["-f", sql]
        } else {
            ["-c", sql]
        })
        .envs(environment.iter().copied())
        .stdout(std::process::Stdio::null())
        .status()
        .await?;
    if !status.success() {
        bail!("psql failed in {database}: {sql}");
    }
    Ok(())
}

/// Drops the bench databases and the bench keys, before and after a run.
async fn cleanup() {
    for database in [DATABASE, orders::USERS, orders::ORDERS, orders::FLOOR] {
        let _ = psql_in(
            "postgres",
            &format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"),
            &[],
        )
        .await;
    }
    let _ = Command::new("sh")
        .args([
            "-c",
            "redis-cli --scan --pattern 'bench:*' | xargs -r redis-cli del > /dev/null",
        ])
        .status()
        .await;
}

async fn wait_for(url: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if reqwest::get(url)
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{url} did not answer within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn now() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M"])
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn commit() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .unwrap_or_default()
}
