//! One chaos run from start to end: the hosts, the system on them, the workload and the fault
//! schedule side by side, the quiet period, the checker and the report; then everything the run
//! made is removed, on Ctrl-C or SIGTERM too.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};

use crate::check::{Findings, check};
use crate::faults;
use crate::history::{FaultWindow, History};
use crate::infra::{RABBITMQ_PASSWORD, RABBITMQ_USER};
use crate::lab::{self, Host, Lab};
use crate::recorders::{BrokerListener, Observer, WebhookReceiver};
use crate::schedule::{Fault, Schedule};
use crate::system::{GATEWAY_PORT, System};
use crate::workload::{self, Client, Recorder, WorkloadPlan};

/// What `cargo xtask chaos` was asked for.
#[derive(Debug, Clone)]
pub struct Options {
    pub duration: Duration,
    pub seed: u64,
    /// A schedule to replay instead of one drawn from the seed.
    pub schedule_file: Option<PathBuf>,
    /// Shopper operations started per second.
    pub rate: u32,
    /// Where the history, the report and the logs go.
    pub out_dir: PathBuf,
    /// Where the service binaries are.
    pub binaries: PathBuf,
}

pub const USAGE: &str = "usage: cargo xtask chaos [--duration 60s|10m] [--seed N] [--schedule FILE.json] [--rate OPS_PER_S] [--out DIR]

Runs 2 replicas of every service, the gateway, PostgreSQL, Redis, RabbitMQ and NATS, each host
on a network namespace of its own (needs root), under a recorded workload and a fault schedule
(partitions, latency, loss, bandwidth, SIGKILL, SIGSTOP, a rolling restart), then checks the
history and writes a report (report.md, timeline.svg, history.json) into the output directory
(default target/chaos/seed-N). Exits non-zero on any safety violation.";

/// Reads the options after `chaos`; `Ok(None)` for `--help`.
pub fn parse_options(args: &[String], target: &Path) -> anyhow::Result<Option<Options>> {
    let mut duration = Duration::from_secs(60);
    let mut seed = None;
    let mut schedule_file = None;
    let mut rate = 20;
    let mut out_dir = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if arg == "--help" || arg == "-h" {
            return Ok(None);
        }
        let value = args
            .next()
            .with_context(|| format!("{arg} needs a value\n{USAGE}"))?;
        match arg.as_str() {
            "--duration" => duration = parse_duration(value)?,
            "--seed" => seed = Some(value.parse().context("--seed N")?),
            "--schedule" => schedule_file = Some(PathBuf::from(value)),
            "--rate" => rate = value.parse().context("--rate OPS_PER_S")?,
            "--out" => out_dir = Some(PathBuf::from(value)),
            other => bail!("unknown option {other}\n{USAGE}"),
        }
    }
    if duration < Duration::from_secs(30) {
        bail!("--duration must be at least 30s: faults need a warm-up and a quiet tail");
    }
    let seed = seed.unwrap_or_else(rand::random::<u64>) % 1_000_000;
    Ok(Some(Options {
        duration,
        seed,
        schedule_file,
        rate,
        out_dir: out_dir.unwrap_or_else(|| target.join("chaos").join(format!("seed-{seed}"))),
        binaries: target.join("debug"),
    }))
}

/// `60s`, `10m`, `90` (seconds).
pub fn parse_duration(text: &str) -> anyhow::Result<Duration> {
    let (number, unit) = match text.strip_suffix('m') {
        Some(minutes) => (minutes, 60),
        None => (text.strip_suffix('s').unwrap_or(text), 1),
    };
    let number: u64 = number
        .parse()
        .with_context(|| format!("a duration such as 60s or 10m, not {text:?}"))?;
    Ok(Duration::from_secs(number * unit))
}

/// Runs everything; `Ok(true)` when the checker found no safety violation.
pub async fn run(options: &Options) -> anyhow::Result<bool> {
    lab::require_root()?;
    // One run at a time: the address plan and the names are fixed.
    let lock_path = std::env::temp_dir().join("shop-chaos.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)?;
    if lock.try_lock().is_err() {
        bail!("chaos: another chaos run holds {}", lock_path.display());
    }
    if options.out_dir.exists() {
        std::fs::remove_dir_all(&options.out_dir)?;
    }
    std::fs::create_dir_all(&options.out_dir)?;
    let lab = Lab::create()?;
    println!(
        "chaos: hosts {} on bridge {} (10.77.0.0/24)",
        Host::ALL.map(Host::namespace).join(", "),
        lab::BRIDGE
    );
    let mut slot = None;
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let outcome = tokio::select! {
        outcome = body(options, &mut slot) => outcome,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
        _ = terminate.recv() => Err(anyhow::anyhow!("terminated")),
    };
    if let Some(system) = slot.take() {
        system.stop().await;
    }
    lab.remove();
    let left = lab::existing_namespaces();
    if !left.is_empty() {
        eprintln!("chaos: could not remove {}", left.join(", "));
    } else {
        println!("chaos: removed every namespace, link and process the run made");
    }
    drop(lock);
    outcome
}

async fn body(options: &Options, slot: &mut Option<System>) -> anyhow::Result<bool> {
    let recorder = Recorder::new();
    let webhook = WebhookReceiver::start(recorder.clone()).await?;
    let system =
        slot.insert(System::start(&options.out_dir, &options.binaries, &webhook.url).await?);
    println!("chaos: 2 replicas of every service up behind the gateway");
    let plan = WorkloadPlan {
        seed: options.seed,
        duration: options.duration,
        rate: options.rate,
        shoppers: 8,
        products: 6,
        initial_stock: 400,
    };
    let gateway = std::net::SocketAddr::from((Host::Gateway.address(), GATEWAY_PORT));
    let client = Client::new(gateway, &system.tls.ca_pem)?;
    let catalogue = workload::set_up(
        &client,
        &plan,
        (
            &system.secrets.admin_username,
            &system.secrets.admin_password,
        ),
    )
    .await
    .context("setting up the workload")?;
    let amqp = format!(
        "amqp://{RABBITMQ_USER}:{RABBITMQ_PASSWORD}@{}:5672/%2f",
        Host::RabbitMq.address()
    );
    let broker = BrokerListener::start(amqp, recorder.clone()).await?;
    let schedule = match &options.schedule_file {
        Some(path) => {
            let schedule = Schedule::from_json(&std::fs::read_to_string(path)?)?;
            schedule.validate(duration_ms(options.duration))?;
            schedule
        }
        None => Schedule::random(options.seed, duration_ms(options.duration)),
    };
    std::fs::write(options.out_dir.join("schedule.json"), schedule.to_json())?;
    print_schedule(&schedule);

    recorder.start_clock();
    let (windows, fault_errors) = tokio::join!(
        workload::run(&client, &plan, &catalogue, &recorder),
        run_faults(system, &schedule, &recorder),
    )
    .1;
    let duration_ms = recorder.now_ms();
    println!("chaos: workload done; every fault healed; waiting for the system to settle");
    system.wait_until_routed().await?;
    let crashed = system.crashed();
    let mut observer = Observer::connect().await?;
    let settled = observer
        .wait_until_quiet(Duration::from_secs(240), || {
            (broker.events().len(), webhook.notifications().len())
        })
        .await;
    let history = History {
        seed: options.seed,
        duration_ms,
        requests: recorder.requests(),
        faults: windows,
        broker_events: broker.events(),
        stream_events: observer.stream_events().await?,
        notifications: webhook.notifications(),
        final_state: observer.final_state(&catalogue.products).await?,
    };
    let findings = check(&history);
    write_report(&options.out_dir, &history, &findings)?;
    print_findings(&findings, &options.out_dir);
    let mut passed = findings.safety_violations() == 0;
    for error in &fault_errors {
        eprintln!("chaos: a fault could not be applied or healed: {error}");
        passed = false;
    }
    if !settled {
        let owed = observer.outstanding_work().await.unwrap_or_default();
        let owed: Vec<String> = owed
            .iter()
            .filter(|(_, count)| *count > 0)
            .map(|(what, count)| format!("{what}: {count}"))
            .collect();
        eprintln!(
            "chaos: the system had not settled 4 minutes after the last fault healed ({})",
            owed.join("; ")
        );
        passed = false;
    }
    if let Some(crash) = crashed {
        eprintln!("chaos: {crash}");
        passed = false;
    }
    Ok(passed)
}

fn duration_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn print_schedule(schedule: &Schedule) {
    println!("chaos: fault schedule ({} faults):", schedule.faults.len());
    for scheduled in &schedule.faults {
        println!(
            "chaos:   {:>6.1}–{:>6.1} s  {}",
            scheduled.start_ms as f64 / 1000.0,
            scheduled.end_ms as f64 / 1000.0,
            scheduled.fault.name()
        );
        for cut in faults::describe_cuts(&scheduled.fault) {
            println!("chaos:                    partition: {cut}");
        }
    }
}

/// Applies and heals every fault at its time; returns the windows as they really were and the
/// errors met. Every fault applied is healed before it returns, whatever happened.
async fn run_faults(
    system: &mut System,
    schedule: &Schedule,
    recorder: &Recorder,
) -> (Vec<FaultWindow>, Vec<String>) {
    // (time, heal?, index): heals before applies at the same instant.
    let mut steps: Vec<(u64, bool, usize)> = Vec::new();
    for (index, scheduled) in schedule.faults.iter().enumerate() {
        steps.push((scheduled.start_ms, false, index));
        steps.push((scheduled.end_ms, true, index));
    }
    steps.sort_by_key(|(at, heal, _)| (*at, !*heal));
    let mut started: Vec<Option<u64>> = vec![None; schedule.faults.len()];
    let mut windows = Vec::new();
    let mut errors = Vec::new();
    for (at, heal, index) in steps {
        // The schedule's clock, not a synchronisation: a step happens at its time.
        tokio::time::sleep(Duration::from_millis(at.saturating_sub(recorder.now_ms()))).await;
        let fault = &schedule.faults[index].fault;
        if heal {
            // Nothing to heal: never applied, or a rolling restart, over when it returned.
            let Some(start_ms) = started[index].take() else {
                continue;
            };
            if let Err(error) = faults::heal(system, fault).await {
                let error = format!("healing {}: {error:#}", fault.name());
                eprintln!("chaos: {error}");
                errors.push(error);
            }
            let end_ms = recorder.now_ms();
            windows.push(window(fault, start_ms, end_ms));
            println!(
                "chaos: {:>6.1} s healed  {}",
                end_ms as f64 / 1000.0,
                fault.name()
            );
        } else {
            let start_ms = recorder.now_ms();
            println!(
                "chaos: {:>6.1} s applied {}",
                start_ms as f64 / 1000.0,
                fault.name()
            );
            match faults::apply(system, fault).await {
                Ok(()) => started[index] = Some(start_ms),
                Err(error) => {
                    let error = format!("applying {}: {error:#}", fault.name());
                    eprintln!("chaos: {error}");
                    errors.push(error);
                    // Whatever part of it took effect is undone at once.
                    let _ = faults::heal(system, fault).await;
                }
            }
            if matches!(fault, Fault::RollingRestart) && started[index].is_some() {
                // It healed itself when it finished; its window ends here.
                let end_ms = recorder.now_ms();
                started[index] = None;
                windows.push(window(fault, start_ms, end_ms));
            }
        }
    }
    windows.sort_by_key(|window| window.start_ms);
    (windows, errors)
}

fn window(fault: &Fault, start_ms: u64, end_ms: u64) -> FaultWindow {
    FaultWindow::new(fault.name(), fault.kind(), start_ms, end_ms)
}

fn write_report(dir: &Path, history: &History, findings: &Findings) -> anyhow::Result<()> {
    std::fs::write(dir.join("history.json"), serde_json::to_string(history)?)?;
    std::fs::write(
        dir.join("report.md"),
        crate::report::markdown(
            history,
            findings,
            &format!("Chaos run, seed {}", history.seed),
        ),
    )?;
    std::fs::write(
        dir.join("timeline.svg"),
        crate::report::timeline_svg(history, findings),
    )?;
    Ok(())
}

fn print_findings(findings: &Findings, dir: &Path) {
    for line in findings.summary_lines() {
        println!("chaos: {line}");
    }
    println!(
        "chaos: safety violations: {}; report: {}",
        findings.safety_violations(),
        dir.join("report.md").display()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|word| (*word).to_owned()).collect()
    }

    #[test]
    fn durations_read_in_seconds_or_minutes() {
        assert_eq!(parse_duration("60s").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert!(parse_duration("1h").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn options_default_to_a_minute_and_a_directory_per_seed() {
        let target = Path::new("/tmp/target");
        let options = parse_options(&args(&["--seed", "7"]), target)
            .unwrap()
            .unwrap();
        assert_eq!(options.duration, Duration::from_secs(60));
        assert_eq!(options.seed, 7);
        assert_eq!(options.out_dir, target.join("chaos/seed-7"));
        assert_eq!(options.binaries, target.join("debug"));
        assert!(options.schedule_file.is_none());
    }

    #[test]
    fn help_runs_nothing_and_bad_options_are_refused() {
        let target = Path::new("/tmp/target");
        assert!(parse_options(&args(&["--help"]), target).unwrap().is_none());
        assert!(parse_options(&args(&["--duration", "10s"]), target).is_err());
        assert!(parse_options(&args(&["--duration"]), target).is_err());
        assert!(parse_options(&args(&["--rate", "many"]), target).is_err());
        assert!(parse_options(&args(&["--replicas", "3"]), target).is_err());
    }
}
