//! `shop-load`: user journeys against the shop, on goose (run it as `cargo xtask load`).
//!
//! Three kinds of user, in proportion to their weights ([`journeys`]):
//! - a **visitor** browses: first pages, a name search, the next page, product pages;
//! - a **shopper** registers, logs in, browses, orders with an `Idempotency-Key` (and now and
//!   then retries with the same key), looks at their orders and cancels some;
//! - an **admin** logs in, creates products, restocks them and fulfils pending orders.
//!
//! Our own options come first, then `--`, then goose's own (users, ramp-up, run time,
//! thresholds, report file; `--help` after `--` lists them). The target is either a gateway
//! (every path on one base URL) or the services directly ([`target`]). Goose prints
//! per-transaction and per-request throughput, percentiles and errors, writes its HTML report
//! with `--report-file`, and fails the run when a `--threshold` (the SLO, e.g. `p99<200ms`,
//! `error-rate<1%`) is missed, which makes this process exit with [`SLO_MISSED`] (3): apart from
//! a usage mistake (2) and any other failure (1), so a script can tell "too slow" from "broken".

mod journeys;
mod target;

use std::process::ExitCode;

use goose::config::{GooseConfiguration, GooseDefault, GooseDefaultType};
use goose::prelude::*;

/// The exit code of a run that completed but missed a `--threshold`.
const SLO_MISSED: u8 = 3;

const USAGE: &str = "\
usage: shop-load [OPTIONS] [-- GOOSE OPTIONS]

  --gateway URL            every request to URL (a gateway routing by path)
  --user-url URL           User Service      (default http://127.0.0.1:8001)
  --product-url URL        Product Service   (default http://127.0.0.1:8002)
  --order-url URL          Order Service     (default http://127.0.0.1:8003)
  --admin USER:PASSWORD    the admin journey's account (default admin:admin-password)
  --weights V,S,A          visitor, shopper and admin weights (default 8,3,1)
  --rate N                 a fixed arrival rate: at most N requests a second in all, with
                           coordinated-omission mitigation (goose --throttle-requests)

goose options, after --: --users N, --increase-rate N or --increase-time 10s (the ramp-up),
  --run-time 30s, --report-file report.html, --threshold 'p99<200ms',
  --threshold 'error-rate<1%', --test-plan, --quiet; `-- --help` for all.

exit code: 0 every threshold met, 3 a threshold missed, 2 a usage mistake, 1 any other failure.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let split = args
        .iter()
        .position(|arg| arg == "--")
        .unwrap_or(args.len());
    let (ours, goose_args) = (&args[..split], args.get(split + 1..).unwrap_or_default());
    let options = match Options::parse(ours) {
        Ok(options) => options,
        Err(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(Some(message)) => {
            eprintln!("{message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Runtime::new().expect("a Tokio runtime");
    match runtime.block_on(run(options, goose_args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if missed_slo(&error) => {
            eprintln!("shop-load: SLO missed: {error}");
            ExitCode::from(SLO_MISSED)
        }
        Err(error) => {
            eprintln!("shop-load: {error}");
            ExitCode::FAILURE
        }
    }
}

fn missed_slo(error: &anyhow::Error) -> bool {
    matches!(
        error.downcast_ref::<GooseError>(),
        Some(GooseError::ThresholdsFailed { .. })
    )
}

/// Our own options.
#[derive(Debug, Clone)]
struct Options {
    target: target::Target,
    weights: [usize; 3],
    rate: Option<usize>,
}

impl Options {
    /// `Err(None)` asks for the usage text; `Err(Some(why))` is a mistake.
    fn parse(args: &[String]) -> Result<Self, Option<String>> {
        let mut target = target::Target::default();
        let mut weights = [8, 3, 1];
        let mut rate = None;
        let mut args = args.iter();
        while let Some(flag) = args.next() {
            let mut value = || {
                args.next()
                    .cloned()
                    .ok_or(Some(format!("{flag} needs a value")))
            };
            match flag.as_str() {
                "--gateway" => target = target::Target::gateway(&value()?),
                "--user-url" => target.user = value()?,
                "--product-url" => target.product = value()?,
                "--order-url" => target.order = value()?,
                "--admin" => {
                    let value = value()?;
                    let (name, password) = value
                        .split_once(':')
                        .ok_or(Some("--admin takes USER:PASSWORD".to_owned()))?;
                    target.admin = (name.to_owned(), password.to_owned());
                }
                "--weights" => weights = parse_weights(&value()?).map_err(Some)?,
                "--rate" => {
                    let value = value()?;
                    rate = Some(value.parse().map_err(|_| Some(format!("--rate {value}")))?);
                }
                "-h" | "--help" => return Err(None),
                other => return Err(Some(format!("unknown option {other}"))),
            }
        }
        Ok(Self {
            target,
            weights,
            rate,
        })
    }
}

fn parse_weights(text: &str) -> Result<[usize; 3], String> {
    let parsed: Vec<usize> = text
        .split(',')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .map_err(|_| format!("--weights {text}: three whole numbers"))?;
    <[usize; 3]>::try_from(parsed).map_err(|_| format!("--weights {text}: three numbers"))
}

async fn run(options: Options, goose_args: &[String]) -> anyhow::Result<()> {
    let mut goose_args = goose_args.to_vec();
    if let Some(rate) = options.rate {
        // Throttled with mitigation: goose back-fills the requests a slow response held
        // up, so percentiles are those of a fixed arrival rate rather than of a closed loop.
        goose_args.extend([
            "--throttle-requests".into(),
            rate.to_string(),
            "--co-mitigation".into(),
            "average".into(),
        ]);
    }
    let configuration = GooseConfiguration::parse_args_default(&goose_args)
        .map_err(|error| anyhow::anyhow!("goose options: {error:?}"))?;
    journeys::TARGET
        .set(options.target.clone())
        .map_err(|_| anyhow::anyhow!("target set twice"))?;
    let [visitor, shopper, admin] = options.weights;
    let mut attack = *GooseAttack::initialize_with_config(configuration)?
        .set_default(GooseDefault::Host, options.target.product.as_str())?;
    for (weight, scenario) in [
        (visitor, journeys::visitor()),
        (shopper, journeys::shopper()),
        (admin, journeys::admin()),
    ] {
        if weight > 0 {
            attack = attack.register_scenario(scenario.set_weight(weight)?);
        }
    }
    attack.execute().await?;
    Ok(())
}
