//! The load tools the bench drives and how their output is read: wrk (with
//! `docs/bench/report.lua` printing one summary line), redis-benchmark and pgbench.

use std::path::Path;

use anyhow::{Context, bail};
use tokio::process::Command;

use super::CONNECTIONS;

/// Throughput and latency of one run.
#[derive(Clone, Copy, Default)]
pub struct Figure {
    pub per_sec: f64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// The machine's load average (1, 5, 15 minutes) as the run ended, when read.
    pub load_average: Option<[f32; 3]>,
}

/// The machine's load average now (1, 5, 15 minutes).
pub fn load_average() -> Option<[f32; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut numbers = text.split_whitespace().map(|word| word.parse().ok());
    Some([numbers.next()??, numbers.next()??, numbers.next()??])
}

pub async fn wrk(
    seconds: u32,
    script: &Path,
    url: String,
    env: &[(&str, &str)],
) -> anyhow::Result<Figure> {
    let output = Command::new("wrk")
        .args([
            "-t2",
            &format!("-c{CONNECTIONS}"),
            &format!("-d{seconds}s"),
            "-s",
        ])
        .arg(script)
        .arg(&url)
        .envs(env.iter().copied())
        .output()
        .await
        .context("running wrk")?;
    let text = String::from_utf8_lossy(&output.stdout);
    let summary = text
        .lines()
        .find(|line| line.starts_with("requests/s "))
        .with_context(|| format!("wrk printed no summary for {url}: {text}"))?;
    let words: Vec<&str> = summary.split_whitespace().collect();
    let number = |at: usize| words.get(at).and_then(|word| word.parse::<f64>().ok());
    if number(9).unwrap_or(0.0) > 0.0 || number(7).unwrap_or(0.0) > 0.0 {
        bail!("{url}: errors or non-2xx answers: {summary}");
    }
    Ok(Figure {
        per_sec: number(1).unwrap_or(0.0),
        p50_ms: number(3),
        p99_ms: number(5),
        load_average: load_average(),
    })
}

pub async fn redis_benchmark() -> anyhow::Result<Figure> {
    let output = Command::new("redis-benchmark")
        .args(["-t", "get", "-c", CONNECTIONS, "-n", "200000", "-q"])
        .output()
        .await
        .context("running redis-benchmark (Debian's redis-tools)")?;
    let text = String::from_utf8_lossy(&output.stdout);
    // "GET: 52631.58 requests per second, p50=0.311 msec" (the last of its \r updates).
    let last = text
        .rsplit(['\r', '\n'])
        .find(|part| part.starts_with("GET:"));
    let per_sec = last
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|number| number.parse().ok())
        .with_context(|| format!("redis-benchmark printed: {text}"))?;
    let p50_ms = last
        .and_then(|line| line.split("p50=").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|number| number.parse().ok());
    Ok(Figure {
        per_sec,
        p50_ms,
        p99_ms: None,
        load_average: load_average(),
    })
}

/// How pgbench sends its statements.
#[derive(Clone, Copy, Debug)]
pub enum Protocol {
    /// Each statement's text every time (parsed and planned every time).
    Simple,
    /// Prepared once per connection, as the services' pools send theirs. A script whose
    /// variables stand inside quoted literals cannot run so.
    Prepared,
}

/// pgbench running `script` (a file under `docs/bench/`) against `database`, with its
/// variables set by `-D name=value`.
pub async fn pgbench(
    script: &Path,
    database: &str,
    variables: &[(&str, &str)],
    protocol: Protocol,
    seconds: u32,
) -> anyhow::Result<Figure> {
    let mut command = Command::new("pgbench");
    if let Protocol::Prepared = protocol {
        command.args(["-M", "prepared"]);
    }
    command.args([
        "-h",
        "127.0.0.1",
        "-U",
        "postgres",
        "-n",
        "-c",
        CONNECTIONS,
        "-j",
        "2",
    ]);
    for (name, value) in variables {
        command.arg("-D").arg(format!("{name}={value}"));
    }
    let output = command
        .args(["-T", &seconds.to_string(), "-f"])
        .arg(script)
        .arg(database)
        .output()
        .await
        .context("running pgbench")?;
    if !output.status.success() {
        bail!(
            "pgbench {} failed: {}",
            script.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let find = |prefix: &str| {
        text.lines()
            .find_map(|line| line.trim().strip_prefix(prefix))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|number| number.parse::<f64>().ok())
    };
    let per_sec = find("tps = ").with_context(|| format!("pgbench printed: {text}"))?;
    Ok(Figure {
        per_sec,
        p50_ms: None,
        p99_ms: None,
        load_average: load_average(),
    }
    .with_average(find("latency average = ")))
}

impl Figure {
    /// pgbench gives an average, not percentiles: shown in the p50 column, marked as such in
    /// the docs.
    fn with_average(mut self, average_ms: Option<f64>) -> Self {
        self.p50_ms = average_ms;
        self
    }
}

/// One load the bench measures.
pub enum Load<'a> {
    /// wrk running `script` against `url`, with `env` for the script.
    Wrk {
        script: &'a Path,
        url: String,
        env: Vec<(&'a str, String)>,
    },
    /// pgbench running `script` against `database`.
    Pgbench {
        script: &'a Path,
        database: &'a str,
        variables: Vec<(&'a str, &'a str)>,
        protocol: Protocol,
    },
}

impl Load<'_> {
    async fn run(&self, seconds: u32) -> anyhow::Result<Figure> {
        match self {
            Self::Wrk { script, url, env } => {
                let env: Vec<(&str, &str)> = env
                    .iter()
                    .map(|(name, value)| (*name, value.as_str()))
                    .collect();
                wrk(seconds, script, url.clone(), &env).await
            }
            Self::Pgbench {
                script,
                database,
                variables,
                protocol,
            } => pgbench(script, database, variables, *protocol, seconds).await,
        }
    }
}

/// How many turns each load gets in [`in_turns`].
pub const ROUNDS: u32 = 3;

/// The length of one turn when a measurement lasts `seconds` in all.
pub fn turn_seconds(seconds: u32) -> u32 {
    (seconds / ROUNDS).max(1)
}

/// Measures `loads` taking turns: [`ROUNDS`] rounds, each running every load once for its share
/// of `seconds`, and each load's figure is its median round. The machine is shared, and its
/// speed drifts by tens of percent over minutes; measured one after the other, a floor and what
/// is compared with it would each catch a different moment of that drift, and their ratio with
/// it. Taking turns, both see the same moments.
/// The figures come in the order of `loads`.
pub async fn in_turns(loads: &[Load<'_>], seconds: u32) -> anyhow::Result<Vec<Figure>> {
    let share = turn_seconds(seconds);
    let mut rounds: Vec<Vec<Figure>> = loads.iter().map(|_| Vec::new()).collect();
    for _ in 0..ROUNDS {
        for (load, figures) in loads.iter().zip(&mut rounds) {
            figures.push(load.run(share).await?);
        }
    }
    Ok(rounds.into_iter().map(median).collect())
}

/// The round with the median throughput (its latencies with it).
fn median(mut figures: Vec<Figure>) -> Figure {
    figures.sort_by(|a, b| a.per_sec.total_cmp(&b.per_sec));
    figures[figures.len() / 2]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_round_is_taken_whole() {
        let figure = |per_sec, p50| Figure {
            per_sec,
            p50_ms: Some(p50),
            p99_ms: None,
            load_average: None,
        };
        let taken = median(vec![
            figure(900.0, 1.0),
            figure(300.0, 3.0),
            figure(600.0, 2.0),
        ]);
        assert_eq!(taken.per_sec, 600.0);
        assert_eq!(taken.p50_ms, Some(2.0));
    }
}
