//! The zero-downtime rolling restart: every replica in turn is stopped and started again at the
//! same address while the others serve. `cargo xtask cluster` runs it when an operator asks
//! (docs/scaling.md); the cluster tests run the same code under load and count failed requests.
//!
//! For each replica, one at a time:
//! 1. SIGTERM. The service turns `/health/ready` false and keeps serving for
//!    `SHUTDOWN_DRAIN_MS`, long enough for the gateway's next health check to take it out of
//!    the rotation; then it stops accepting, finishes its in-flight requests and exits.
//! 2. Wait until the gateway reports the replica down (if it routes to it) and the process has
//!    exited.
//! 3. Start it again with the same settings.
//! 4. Wait until it is back: for a routed replica, until the gateway's own health check counts
//!    it up (the gateway routes to it again); for a service the gateway does not route to, until
//!    its `/health/ready` answers as that check wants (2xx or 3xx).
//!
//! Only then does the next replica stop, so every replica but one serves at every moment.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::{Gateway, probe};

/// The longest one step may take (a drain is at most `SHUTDOWN_DRAIN_MS` plus
/// `SHUTDOWN_TIMEOUT_SECS`; a start includes migrations and connections): past it the restart
/// fails instead of hanging.
pub const STEP_LIMIT: Duration = Duration::from_secs(120);

/// How often a step looks at the gateway or the replica.
const POLL: Duration = Duration::from_millis(50);

/// A replica process the rolling restart can stop and start again.
pub trait ReplicaProcess {
    /// Names it in progress lines and errors, e.g. `order-service #2`.
    fn name(&self) -> String;
    /// Where it serves, `http://127.0.0.1:PORT`, as the gateway's backends name it.
    fn url(&self) -> String;
    /// The gateway backend that routes to it; `None` for a service with no public API.
    fn backend(&self) -> Option<&'static str>;
    /// The PID of its running process; `None` when it does not run.
    fn pid(&self) -> Option<u32>;
    /// Resolves once its process has exited (at once when it does not run).
    fn exited(&mut self) -> impl Future<Output = anyhow::Result<()>> + Send;
    /// Starts its process again, with the same settings and port.
    fn start(&mut self) -> anyhow::Result<()>;
}

/// Restarts `replicas` one after another (see the module documentation); `progress` gets a
/// line per step. Stops at the first replica that does not come back.
pub async fn rolling_restart<R: ReplicaProcess>(
    gateway: &Gateway,
    replicas: &mut [R],
    mut progress: impl FnMut(&str),
) -> anyhow::Result<()> {
    for replica in replicas.iter_mut() {
        restart(gateway, replica, &mut progress).await?;
    }
    Ok(())
}

/// Restarts one replica: drained and out of the rotation, exited, started, back in it.
pub async fn restart<R: ReplicaProcess>(
    gateway: &Gateway,
    replica: &mut R,
    progress: &mut impl FnMut(&str),
) -> anyhow::Result<()> {
    let name = replica.name();
    let url = replica.url();
    let started = Instant::now();
    if let Some(pid) = replica.pid() {
        progress(&format!("{name}: SIGTERM (draining)"));
        terminate(pid).await?;
        if let Some(backend) = replica.backend() {
            until(&format!("the gateway to take {name} out"), || async {
                gateway_counts_up(gateway, backend, &url).await == Some(false)
            })
            .await?;
        }
        tokio::time::timeout(STEP_LIMIT, replica.exited())
            .await
            .with_context(|| format!("{name} did not exit within {STEP_LIMIT:?} of SIGTERM"))??;
    }
    replica.start()?;
    let back = back_in_rotation(gateway, &name, &url, replica.backend());
    tokio::select! {
        result = back => result?,
        exit = replica.exited() => {
            exit?;
            bail!("{name} exited while starting");
        }
    }
    progress(&format!(
        "{name}: back after {:.1} s",
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// Waits until the gateway routes to the replica at `url` again, or, for one it does not
/// route to, until the replica reports itself ready.
async fn back_in_rotation(
    gateway: &Gateway,
    name: &str,
    url: &str,
    backend: Option<&str>,
) -> anyhow::Result<()> {
    match backend {
        Some(backend) => {
            until(&format!("the gateway to route to {name} again"), || async {
                gateway_counts_up(gateway, backend, url).await == Some(true)
            })
            .await
        }
        None => {
            until(&format!("{name} to be ready"), || async {
                ready(url).await
            })
            .await
        }
    }
}

/// Whether `url`'s `/health/ready` answers as the gateway's health check wants.
pub async fn ready(url: &str) -> bool {
    probe::get(url, "/health/ready")
        .await
        .is_ok_and(|answer| answer.healthy())
}

/// Whether the gateway's last health check of `url` in `backend` found it up; `None` when the
/// gateway does not answer or does not list it.
async fn gateway_counts_up(gateway: &Gateway, backend: &str, url: &str) -> Option<bool> {
    let status = gateway.server_status(backend).await.ok()?;
    status.get(url).map(|state| state == "UP")
}

/// SIGTERM to `pid`: the service drains and exits on its own.
async fn terminate(pid: u32) -> anyhow::Result<()> {
    send_signal(pid, "TERM").await
}

/// `kill -<signal> <pid>` (`signal` as `kill` names it: `TERM`, `HUP`).
pub async fn send_signal(pid: u32, signal: &str) -> anyhow::Result<()> {
    let status = tokio::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .await
        .context("running kill")?;
    if !status.success() {
        bail!("kill -{signal} {pid}: {status}");
    }
    Ok(())
}

/// Polls `check` until it holds, failing after [`STEP_LIMIT`].
async fn until<F, Fut>(what: &str, mut check: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        if started.elapsed() > STEP_LIMIT {
            bail!("gave up waiting for {what} after {STEP_LIMIT:?}");
        }
        tokio::time::sleep(POLL).await;
    }
    Ok(())
}
