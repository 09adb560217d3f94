//! The commands of `cargo xtask`, their usage texts, and what a command line asks for.
//!
//! Reading the command line never starts anything: `--help` (or `-h`) after any command prints
//! that command's usage and exits 0, a mistake prints the usage on stderr and exits 2, and only
//! a command line read whole runs.

use crate::cargo::Profile;

/// One command: its name, a line for the list of commands, and its usage text.
#[derive(Debug)]
pub struct Command {
    pub name: &'static str,
    pub summary: &'static str,
    pub usage: &'static str,
}

pub const COMMANDS: [Command; 9] = [
    Command {
        name: "up",
        summary: "the whole system on one machine: every service on its port, development profile",
        usage: UP,
    },
    Command {
        name: "cluster",
        summary: "replicas of every service behind the HAProxy gateway, production profile",
        usage: CLUSTER,
    },
    Command {
        name: "infra",
        summary: "starts PostgreSQL, Redis, RabbitMQ and NATS where they are down",
        usage: INFRA,
    },
    Command {
        name: "test",
        summary: "infra and the test tools, then cargo nextest run --workspace",
        usage: TEST,
    },
    Command {
        name: "docs",
        summary: "regenerates the documents rendered from code",
        usage: DOCS,
    },
    Command {
        name: "demo",
        summary: "walks through the running system step by step",
        usage: DEMO,
    },
    Command {
        name: "load",
        summary: "the load generator against the running system or a gateway",
        usage: LOAD,
    },
    Command {
        name: "bench",
        summary: "each endpoint beside its floor, written into docs/benchmarks.md",
        usage: BENCH,
    },
    Command {
        name: "chaos",
        summary: "the replicated system under network and process faults, checked (root only)",
        usage: chaos::run::USAGE,
    },
];

const UP: &str = "\
usage: cargo xtask up
       cargo xtask up --replicas N [--port P] [--release]

Makes sure PostgreSQL, Redis, RabbitMQ and NATS answer (starting any that is down), builds
every service (debug) and runs each on its documented port (8001-8006) in the development
profile, its output prefixed with its name. Prints the development admin's credentials.
Ctrl-C or SIGTERM stops them all; a service that dies is reported and the others stopped.

With options it is `cargo xtask cluster` with the same options (`cargo xtask cluster --help`).";

const CLUSTER: &str = "\
usage: cargo xtask cluster [--replicas N] [--port P] [--release]
       cargo xtask cluster restart [--release]

Runs N replicas of every service in the production profile behind the HAProxy gateway, the
only public entry point, on https://127.0.0.1:P (self-signed; its CA in .cluster/tls/ca.pem).
Secrets are generated into .cluster/secrets.env on first use; the admin's are printed.
Ctrl-C or SIGTERM stops everything.

  --replicas N   replicas of each service, 1 to 8 (default 2)
  --port P       the gateway's public HTTPS port (default 8080)
  --release      builds and runs release binaries (default debug)

`restart` builds the binaries, then has the running cluster restart every replica in turn
without failing a request (docs/scaling.md). It takes --release exactly when the running
cluster was started with it, so that what it builds is what the cluster runs.";

const INFRA: &str = "\
usage: cargo xtask infra

Makes sure PostgreSQL (5432), Redis (6379), RabbitMQ (5672) and NATS (4222) answer, starting
any that is down with the machine's own packages. Nothing is ever stopped. No options.";

const TEST: &str = "\
usage: cargo xtask test [NEXTEST ARGS]
       cargo xtask test -- --help

Starts the local infrastructure where it is down, installs the offline checkers and the
contract tests' schemathesis when missing, builds the load generator, then runs
`cargo nextest run --workspace NEXTEST ARGS` (groups and parallelism in .config/nextest.toml).
This is the test command, and what CI runs.

Every argument goes to nextest as given, e.g. `cargo xtask test -p user-service` or
`cargo xtask test -E 'test(login)'`. A leading `--` is dropped, so `cargo xtask test -- --help`
shows nextest's own help (and prepares nothing).";

const DOCS: &str = "\
usage: cargo xtask docs

Regenerates the files rendered from code: docs/configuration.md from the services' settings,
docs/events.schema.json and docs/asyncapi.json from the order events. A test fails while any
of them is out of date. No options.";

const DEMO: &str = "\
usage: cargo xtask demo

Against the system `cargo xtask up` runs, step by step: a user registers and logs in, the
admin creates products, the user orders and cancels, the notification is sent, and both order
events are read back from NATS. A step whose service is not running is shown as skipped.
No options.";

const LOAD: &str = "\
usage: cargo xtask load [OPTIONS] [-- GOOSE OPTIONS]

Builds the load generator (load/, on goose) in release and runs it with these arguments:
visitors browse, shoppers register, order and cancel, admins create products and fulfil
orders, against the services on their ports or a gateway.

  --gateway URL            every request to URL (a gateway routing by path)
  --user-url URL           User Service      (default http://127.0.0.1:8001)
  --product-url URL        Product Service   (default http://127.0.0.1:8002)
  --order-url URL          Order Service     (default http://127.0.0.1:8003)
  --admin USER:PASSWORD    the admin journey's account (default the development admin)
  --weights V,S,A          visitor, shopper and admin weights (default 8,3,1)
  --rate N                 at most N requests a second in all (coordinated-omission mitigation)

goose options, after --: --users N, --increase-rate N, --run-time 30s, --report-file FILE,
  --threshold 'p99<200ms', --threshold 'error-rate<1%', ...; `cargo xtask load -- --help`
  builds the generator and lists them all.

exit code: 0 every threshold met, 3 a threshold missed, 2 a usage mistake, 1 any other failure.";

const BENCH: &str = "\
usage: cargo xtask bench [--quick] [--duration SECS]

Builds the Product, User and Order Services and a bare salvo handler in release, then measures
each endpoint beside its floor in the same run (the bare handler, redis-benchmark, pgbench
running the reservation and every statement one order costs) against the local PostgreSQL and
Redis, loaded by wrk (installed from Debian's packages when missing). Prints throughput,
p50/p99, the share of the floor and the load average, and rewrites the table in
docs/benchmarks.md. A floor and what is compared with it take turns (three rounds each) and
each line is its median round, so that both see the same moments of a shared machine.

  --quick           debug build and 3 s runs: checks that the command works; its figures are no benchmarks
  --duration SECS   each measurement's total, split over its three turns (default 15; 3 with --quick)";

/// The list of commands, one line each.
pub fn overview() -> String {
    let mut text = String::from(
        "usage: cargo xtask <command> [options]\n       \
         cargo xtask <command> --help   (or `cargo xtask help <command>`)\n\ncommands:\n",
    );
    for command in &COMMANDS {
        text.push_str(&format!("  {:<9} {}\n", command.name, command.summary));
    }
    text.push_str("  help      this list, or a command's usage");
    text
}

/// What a command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Request {
    /// Print this on stdout and exit 0.
    Help(String),
    /// A usage mistake: print this on stderr and exit 2.
    Mistake(String),
    Run(Run),
}

/// A command to run, with its options read.
#[derive(Debug, PartialEq, Eq)]
pub enum Run {
    Up,
    Cluster(ClusterOptions),
    ClusterRestart {
        profile: Profile,
    },
    Infra,
    Test {
        nextest_args: Vec<String>,
    },
    /// `cargo xtask test -- --help`: nextest's own help needs none of the preparation.
    NextestHelp {
        nextest_args: Vec<String>,
    },
    Docs,
    Demo,
    /// The generator reads (and refuses) its own options.
    Load {
        args: Vec<String>,
    },
    Bench(BenchOptions),
    /// The chaos crate reads its own options (`chaos::run::parse_options`).
    Chaos {
        args: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClusterOptions {
    pub replicas: usize,
    pub port: u16,
    pub profile: Profile,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BenchOptions {
    /// Debug build and short runs, to check the command rather than measure.
    pub quick: bool,
    pub seconds: u32,
}

/// Reads the arguments after `cargo xtask`.
pub fn parse(args: &[String]) -> Request {
    let Some((name, rest)) = args.split_first() else {
        return Request::Mistake(overview());
    };
    if matches!(name.as_str(), "help" | "--help" | "-h") {
        return help(rest);
    }
    let Some(command) = COMMANDS.iter().find(|command| command.name == name) else {
        return Request::Mistake(format!("unknown command {name}\n\n{}", overview()));
    };
    if asks_for_help(rest) {
        return Request::Help(command.usage.to_owned());
    }
    let run = match command.name {
        "up" if rest.is_empty() => Ok(Run::Up),
        "up" => cluster_options(rest).map(Run::Cluster),
        "cluster" => cluster(rest),
        "infra" => no_options(rest).map(|()| Run::Infra),
        "test" => Ok(test(rest)),
        "docs" => no_options(rest).map(|()| Run::Docs),
        "demo" => no_options(rest).map(|()| Run::Demo),
        "load" => Ok(Run::Load {
            args: rest.to_vec(),
        }),
        "bench" => bench_options(rest).map(Run::Bench),
        "chaos" => Ok(Run::Chaos {
            args: rest.to_vec(),
        }),
        other => unreachable!("{other} is in COMMANDS but has no parser"),
    };
    match run {
        Ok(run) => Request::Run(run),
        Err(mistake) => Request::Mistake(format!("{name}: {mistake}\n\n{}", command.usage)),
    }
}

/// `--help` or `-h` among the arguments before a `--` (after it they belong to another program).
fn asks_for_help(args: &[String]) -> bool {
    args.iter()
        .take_while(|arg| *arg != "--")
        .any(|arg| arg == "--help" || arg == "-h")
}

/// `cargo xtask help [COMMAND]`.
fn help(args: &[String]) -> Request {
    match args {
        [] => Request::Help(overview()),
        // `cargo xtask help --help`
        [_] if asks_for_help(args) => Request::Help(overview()),
        [name] => match COMMANDS.iter().find(|command| command.name == name) {
            Some(command) => Request::Help(command.usage.to_owned()),
            None => Request::Mistake(format!("unknown command {name}\n\n{}", overview())),
        },
        _ => Request::Mistake(overview()),
    }
}

fn no_options(args: &[String]) -> Result<(), String> {
    match args.first() {
        None => Ok(()),
        Some(arg) => Err(format!("unknown option {arg} (it takes none)")),
    }
}

fn cluster(args: &[String]) -> Result<Run, String> {
    let Some(("restart", options)) = args
        .split_first()
        .map(|(first, rest)| (first.as_str(), rest))
    else {
        return cluster_options(args).map(Run::Cluster);
    };
    let mut profile = Profile::Debug;
    for option in options {
        match option.as_str() {
            "--release" => profile = Profile::Release,
            other => return Err(format!("unknown option {other} for restart")),
        }
    }
    Ok(Run::ClusterRestart { profile })
}

fn cluster_options(args: &[String]) -> Result<ClusterOptions, String> {
    let mut options = ClusterOptions {
        replicas: 2,
        port: 8080,
        profile: Profile::Debug,
    };
    let mut args = args.iter();
    while let Some(option) = args.next() {
        match option.as_str() {
            "--replicas" => options.replicas = value(option, args.next(), "N")?,
            "--port" => options.port = value(option, args.next(), "P")?,
            "--release" => options.profile = Profile::Release,
            other => return Err(format!("unknown option {other}")),
        }
    }
    if !(1..=8).contains(&options.replicas) {
        return Err("--replicas must be between 1 and 8".to_owned());
    }
    Ok(options)
}

fn bench_options(args: &[String]) -> Result<BenchOptions, String> {
    let mut quick = false;
    let mut seconds = None;
    let mut args = args.iter();
    while let Some(option) = args.next() {
        match option.as_str() {
            "--quick" => quick = true,
            "--duration" => seconds = Some(value(option, args.next(), "SECS")?),
            other => return Err(format!("unknown option {other}")),
        }
    }
    if seconds == Some(0) {
        return Err("--duration must be at least 1 second".to_owned());
    }
    Ok(BenchOptions {
        quick,
        seconds: seconds.unwrap_or(if quick { 3 } else { 15 }),
    })
}

/// The value after `option`, read as a number.
fn value<T: std::str::FromStr>(
    option: &str,
    value: Option<&String>,
    name: &str,
) -> Result<T, String> {
    let value = value.ok_or_else(|| format!("{option} needs a value: {option} {name}"))?;
    value
        .parse()
        .map_err(|_| format!("{option} {name}: {value:?} is not a number that fits"))
}

/// `cargo xtask test ARGS`: ARGS go to nextest, less a leading `--`.
fn test(args: &[String]) -> Run {
    let nextest_args = match args.split_first() {
        Some((first, rest)) if first == "--" => rest.to_vec(),
        _ => args.to_vec(),
    };
    // Reached only through the leading `--`: `--help` before it is xtask's own.
    if asks_for_help(&nextest_args) {
        Run::NextestHelp { nextest_args }
    } else {
        Run::Test { nextest_args }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_line(line: &str) -> Request {
        let args: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
        parse(&args)
    }

    fn is_mistake(request: &Request) -> bool {
        matches!(request, Request::Mistake(_))
    }

    #[test]
    fn every_command_answers_help_and_h_with_its_usage() {
        for command in &COMMANDS {
            let synopsis = format!("usage: cargo xtask {}", command.name);
            assert!(command.usage.starts_with(&synopsis), "{}", command.name);
            for flag in ["--help", "-h"] {
                assert_eq!(
                    parse_line(&format!("{} {flag}", command.name)),
                    Request::Help(command.usage.to_owned()),
                    "{} {flag}",
                    command.name
                );
            }
            assert_eq!(
                parse_line(&format!("help {}", command.name)),
                Request::Help(command.usage.to_owned()),
            );
        }
    }

    #[test]
    fn help_after_other_options_still_only_prints_the_usage() {
        assert_eq!(
            parse_line("bench --quick --duration 5 --help"),
            Request::Help(BENCH.to_owned())
        );
        assert_eq!(
            parse_line("cluster restart --release -h"),
            Request::Help(CLUSTER.to_owned())
        );
        assert_eq!(
            parse_line("test -p user-service --help"),
            Request::Help(TEST.to_owned())
        );
        assert_eq!(
            parse_line("load --gateway https://127.0.0.1:8080 --help -- --users 4"),
            Request::Help(LOAD.to_owned())
        );
    }

    #[test]
    fn the_overview_lists_every_command_on_a_line_of_its_own() {
        let overview = overview();
        for line in ["help", "--help", "-h", "help --help"] {
            assert_eq!(parse_line(line), Request::Help(overview.clone()), "{line}");
        }
        for command in &COMMANDS {
            let listed = format!("  {:<9} {}\n", command.name, command.summary);
            assert!(overview.contains(&listed), "{}", command.name);
        }
        assert!(is_mistake(&parse_line("")), "no command");
    }

    #[test]
    fn unknown_commands_and_options_are_refused() {
        for line in [
            "deploy",
            "help deploy",
            "up --bogus",
            "cluster --replica 3",
            "cluster --replicas",
            "cluster --replicas three",
            "cluster --replicas 9",
            "cluster --port 70000",
            "cluster restart --replicas 3",
            "infra --bogus",
            "infra postgres",
            "docs --check",
            "demo --fast",
            "bench --bogus",
            "bench --duration",
            "bench --duration 0",
            "bench --release",
        ] {
            assert!(is_mistake(&parse_line(line)), "{line}");
        }
    }

    #[test]
    fn a_mistake_shows_the_usage_of_the_command_typed() {
        let Request::Mistake(text) = parse_line("infra --bogus") else {
            panic!("refused");
        };
        assert!(text.contains("unknown option --bogus"), "{text}");
        assert!(text.ends_with(INFRA), "{text}");
    }

    #[test]
    fn release_is_read_for_the_cluster_and_its_restart() {
        let cluster = |replicas, port, profile| {
            Request::Run(Run::Cluster(ClusterOptions {
                replicas,
                port,
                profile,
            }))
        };
        assert_eq!(parse_line("cluster"), cluster(2, 8080, Profile::Debug));
        assert_eq!(
            parse_line("cluster --release"),
            cluster(2, 8080, Profile::Release)
        );
        assert_eq!(
            parse_line("cluster --replicas 3 --release --port 9443"),
            cluster(3, 9443, Profile::Release)
        );
        assert_eq!(
            parse_line("up --replicas 3 --release"),
            cluster(3, 8080, Profile::Release)
        );
        assert_eq!(parse_line("up"), Request::Run(Run::Up));
        assert_eq!(
            parse_line("cluster restart"),
            Request::Run(Run::ClusterRestart {
                profile: Profile::Debug
            })
        );
        assert_eq!(
            parse_line("cluster restart --release"),
            Request::Run(Run::ClusterRestart {
                profile: Profile::Release
            })
        );
        // Only the cluster restarts.
        assert!(is_mistake(&parse_line("up restart")));
    }

    #[test]
    fn bench_reads_quick_and_duration() {
        let bench = |quick, seconds| Request::Run(Run::Bench(BenchOptions { quick, seconds }));
        assert_eq!(parse_line("bench"), bench(false, 15));
        assert_eq!(parse_line("bench --quick"), bench(true, 3));
        assert_eq!(parse_line("bench --duration 30"), bench(false, 30));
        assert_eq!(parse_line("bench --quick --duration 5"), bench(true, 5));
    }

    #[test]
    fn test_passes_its_arguments_to_nextest_and_a_leading_separator_reaches_its_help() {
        let args = |line: &str| line.split_whitespace().map(str::to_owned).collect();
        assert_eq!(
            parse_line("test"),
            Request::Run(Run::Test {
                nextest_args: Vec::new()
            })
        );
        assert_eq!(
            parse_line("test -p user-service --no-fail-fast"),
            Request::Run(Run::Test {
                nextest_args: args("-p user-service --no-fail-fast")
            })
        );
        // nextest's own `--` (arguments for the test binaries) is kept.
        assert_eq!(
            parse_line("test -p user-service -- --exact login"),
            Request::Run(Run::Test {
                nextest_args: args("-p user-service -- --exact login")
            })
        );
        assert_eq!(
            parse_line("test -- -p user-service"),
            Request::Run(Run::Test {
                nextest_args: args("-p user-service")
            })
        );
        for line in ["test -- --help", "test -- -h"] {
            assert_eq!(
                parse_line(line),
                Request::Run(Run::NextestHelp {
                    nextest_args: args(&line["test -- ".len()..])
                }),
                "{line}"
            );
        }
    }

    #[test]
    fn load_and_chaos_options_reach_their_own_readers() {
        assert_eq!(
            parse_line("load --weights 8,3,1 -- --users 40 --help"),
            Request::Run(Run::Load {
                args: ["--weights", "8,3,1", "--", "--users", "40", "--help"]
                    .map(str::to_owned)
                    .to_vec()
            })
        );
        assert_eq!(
            parse_line("chaos --seed 1"),
            Request::Run(Run::Chaos {
                args: ["--seed", "1"].map(str::to_owned).to_vec()
            })
        );
    }

    /// Our list of the generator's options is a copy: every option its usage text describes
    /// must be in ours too.
    #[test]
    fn the_load_usage_lists_every_option_of_the_generator() {
        let source = std::fs::read_to_string(crate::up::workspace_root().join("load/src/main.rs"))
            .expect("the load generator's source");
        // The generator's own options: the indented lines of its usage before goose's.
        let options: Vec<&str> = source
            .lines()
            .skip_while(|line| !line.starts_with("usage: shop-load"))
            .take_while(|line| !line.starts_with("goose options"))
            .filter_map(|line| line.strip_prefix("  --"))
            .filter_map(|rest| rest.split_whitespace().next())
            .collect();
        assert_eq!(options.len(), 7, "found {options:?} in load/src/main.rs");
        for option in options {
            assert!(LOAD.contains(&format!("  --{option} ")), "--{option}");
        }
    }
}
