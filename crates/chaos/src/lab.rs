//! The hosts of a chaos run: one network namespace per host, each with a veth link into one
//! bridge in the root namespace, and the cuts between them.
//!
//! The address plan (10.77.0.0/24) is fixed, so a run's leftovers are recognisable and only one
//! run goes at a time. The root namespace holds the bridge's address (.1), where the recorder,
//! the webhook receiver and the link proxies listen. A host with more than one address hands a
//! different one to each kind of client, so that one kind can be cut off alone: the gateway's
//! .13 is the product service's internal entry point for the order service only, NATS's .24 is
//! the bridge's.
//!
//! Cuts are what this kernel offers (no netem, no iptables; docs/reliability.md):
//! - `ip route add prohibit ADDR/32` inside a namespace: its packets to ADDR fail at once,
//!   one direction; set on both sides, a partition between two hosts;
//! - `ip link set ch-HOST down`: the host's link is gone, every peer sees silence;
//! - `tc qdisc ... tbf` on both ends of a host's link: a bandwidth limit.

use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

/// Every name this module makes starts with it (namespaces; links start with `ch-`).
pub const PREFIX: &str = "chaos-";
/// The bridge in the root namespace.
pub const BRIDGE: &str = "chaos-br";
/// The root namespace's address on the bridge: where the run's own listeners are.
pub const ROOT: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
/// The address of the proxy on the gateway → host-a link (one port per routed service).
pub const GATEWAY_TO_HOST_A_PROXY: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 201);
/// The address of the proxy on the host-b → PostgreSQL link.
pub const HOST_B_TO_POSTGRES_PROXY: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 202);

/// A host of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Host {
    Gateway,
    HostA,
    HostB,
    Postgres,
    Redis,
    RabbitMq,
    Nats,
}

impl Host {
    pub const ALL: [Self; 7] = [
        Self::Gateway,
        Self::HostA,
        Self::HostB,
        Self::Postgres,
        Self::Redis,
        Self::RabbitMq,
        Self::Nats,
    ];

    /// Its name in output: `gateway`, `host-a`, ...
    pub fn name(self) -> &'static str {
        match self {
            Self::Gateway => "gateway",
            Self::HostA => "host-a",
            Self::HostB => "host-b",
            Self::Postgres => "postgres",
            Self::Redis => "redis",
            Self::RabbitMq => "rabbitmq",
            Self::Nats => "nats",
        }
    }

    /// Its network namespace.
    pub fn namespace(self) -> String {
        format!("{PREFIX}{}", self.name())
    }

    /// The root end of its veth link (at most 15 bytes, as the kernel wants).
    pub fn link(self) -> String {
        format!("ch-{}", self.name())
    }

    /// Its first address, the one every client uses unless [`Host::addresses`] says otherwise.
    pub fn address(self) -> Ipv4Addr {
        self.addresses()[0]
    }

    /// Every address it holds.
    pub fn addresses(self) -> &'static [Ipv4Addr] {
        const GATEWAY: [Ipv4Addr; 2] = [Ipv4Addr::new(10, 77, 0, 10), ORDER_TO_PRODUCT];
        const NATS: [Ipv4Addr; 2] = [Ipv4Addr::new(10, 77, 0, 23), BRIDGE_TO_NATS];
        const HOST_A: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 11);
        const HOST_B: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 12);
        const POSTGRES: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 20);
        const REDIS: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 21);
        const RABBITMQ: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 22);
        match self {
            Self::Gateway => &GATEWAY,
            Self::HostA => &[HOST_A],
            Self::HostB => &[HOST_B],
            Self::Postgres => &[POSTGRES],
            Self::Redis => &[REDIS],
            Self::RabbitMq => &[RABBITMQ],
            Self::Nats => &NATS,
        }
    }
}

/// The gateway's address the order service reaches the product service at.
pub const ORDER_TO_PRODUCT: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 13);
/// NATS's address the bridge reaches it at.
pub const BRIDGE_TO_NATS: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 24);

/// The namespaces, links and bridge of a run; all removed when dropped (after the processes
/// inside have been ended by their owners).
#[derive(Debug)]
pub struct Lab {
    removed: bool,
}

impl Lab {
    /// Makes every host. Needs root; leftovers of a run that was killed are removed first.
    pub fn create() -> anyhow::Result<Self> {
        require_root()?;
        remove_leftovers();
        let lab = Self { removed: false };
        ip(&["link", "add", BRIDGE, "type", "bridge"])?;
        ip(&["addr", "add", &format!("{ROOT}/24"), "dev", BRIDGE])?;
        for alias in [GATEWAY_TO_HOST_A_PROXY, HOST_B_TO_POSTGRES_PROXY] {
            ip(&["addr", "add", &format!("{alias}/24"), "dev", BRIDGE])?;
        }
        ip(&["link", "set", BRIDGE, "up"])?;
        for host in Host::ALL {
            lab.add_host(host)?;
        }
        Ok(lab)
    }

    fn add_host(&self, host: Host) -> anyhow::Result<()> {
        let namespace = host.namespace();
        let link = host.link();
        ip(&["netns", "add", &namespace])?;
        ip(&[
            "link", "add", &link, "type", "veth", "peer", "name", "eth0", "netns", &namespace,
        ])?;
        ip(&["link", "set", &link, "master", BRIDGE, "up"])?;
        for address in host.addresses() {
            ip(&[
                "-n",
                &namespace,
                "addr",
                "add",
                &format!("{address}/24"),
                "dev",
                "eth0",
            ])?;
        }
        ip(&["-n", &namespace, "link", "set", "eth0", "up"])?;
        ip(&["-n", &namespace, "link", "set", "lo", "up"])?;
        Ok(())
    }

    /// `program` to be started inside `host`'s namespace.
    pub fn command(host: Host, program: &str) -> tokio::process::Command {
        let mut command = tokio::process::Command::new("ip");
        command.args(["netns", "exec", &host.namespace(), program]);
        command
    }

    /// The words that start a program inside `host` (for launchers that take a prefix).
    pub fn launcher(host: Host) -> Vec<String> {
        vec!["ip".into(), "netns".into(), "exec".into(), host.namespace()]
    }

    /// `host`'s packets to `address` fail from now on (one direction).
    pub fn prohibit(host: Host, address: Ipv4Addr) -> anyhow::Result<()> {
        ip(&[
            "-n",
            &host.namespace(),
            "route",
            "add",
            "prohibit",
            &format!("{address}/32"),
        ])
    }

    /// Undoes [`Lab::prohibit`].
    pub fn allow(host: Host, address: Ipv4Addr) -> anyhow::Result<()> {
        ip(&[
            "-n",
            &host.namespace(),
            "route",
            "del",
            "prohibit",
            &format!("{address}/32"),
        ])
    }

    /// Takes `host`'s link down (`up: false`) or brings it back.
    pub fn set_link(host: Host, up: bool) -> anyhow::Result<()> {
        // Brought up again, the link is still the bridge's port and the namespace's end keeps
        // its addresses and routes: nothing else to restore.
        ip(&["link", "set", &host.link(), if up { "up" } else { "down" }])
    }

    /// Limits `host`'s link to `kbit` both ways (`tbf` on both ends); `None` lifts it.
    pub fn limit_bandwidth(host: Host, kbit: Option<u32>) -> anyhow::Result<()> {
        for args in bandwidth_commands(host, kbit) {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            tc(&args)?;
        }
        Ok(())
    }

    /// Removes the namespaces and the bridge (the processes inside must have been ended).
    pub fn remove(mut self) {
        self.removed = true;
        remove_leftovers();
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if !self.removed {
            remove_leftovers();
        }
    }
}

/// The `tc` command lines that put a `kbit` limit on both ends of `host`'s link (`None`: that
/// take it off again): the root end, then the namespace's end.
fn bandwidth_commands(host: Host, kbit: Option<u32>) -> Vec<Vec<String>> {
    let ends = [
        (Vec::new(), host.link()),
        (vec!["-n".to_owned(), host.namespace()], "eth0".to_owned()),
    ];
    ends.into_iter()
        .map(|(mut args, device)| {
            let tail: Vec<String> = match kbit {
                Some(kbit) => vec![
                    "qdisc".into(),
                    "replace".into(),
                    "dev".into(),
                    device,
                    "root".into(),
                    "tbf".into(),
                    "rate".into(),
                    format!("{kbit}kbit"),
                    "burst".into(),
                    "32kbit".into(),
                    "latency".into(),
                    "400ms".into(),
                ],
                None => vec![
                    "qdisc".into(),
                    "del".into(),
                    "dev".into(),
                    device,
                    "root".into(),
                ],
            };
            args.extend(tail);
            args
        })
        .collect()
}

/// Fails with one line when the process is not root: namespaces and links need it.
pub fn require_root() -> anyhow::Result<()> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let effective_uid = status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .unwrap_or("");
    if effective_uid != "0" {
        bail!(
            "chaos: needs root to make network namespaces and links (run it as root, e.g. `sudo -E cargo xtask chaos`)"
        );
    }
    Ok(())
}

/// Every namespace and link an earlier run left (by their names), and the bridge.
pub fn remove_leftovers() {
    for name in existing_namespaces() {
        // A process still inside (one whose owner was killed before it could end it) would
        // keep the namespace alive: end it first.
        for pid in output_of("ip", &["netns", "pids", &name]).split_whitespace() {
            let _ = quiet("kill", &["-KILL", pid]);
        }
        let _ = quiet("ip", &["netns", "del", &name]);
    }
    for host in Host::ALL {
        let _ = quiet("ip", &["link", "del", &host.link()]);
    }
    let _ = quiet("ip", &["link", "del", BRIDGE]);
}

/// Names of this run's namespaces that exist now (for the cleanliness check).
pub fn existing_namespaces() -> Vec<String> {
    output_of("ip", &["netns", "list"])
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| name.starts_with(PREFIX))
        .map(str::to_owned)
        .collect()
}

fn ip(args: &[&str]) -> anyhow::Result<()> {
    run("ip", args)
}

fn tc(args: &[&str]) -> anyhow::Result<()> {
    run("tc", args)
}

/// Runs a set-up or fault command to its end; its output shows only when it fails.
///
/// Called from the run's tasks while the workload goes on (and `initdb` takes a second), so the
/// wait is announced to tokio's multi-threaded runtime, which moves the worker's other tasks
/// elsewhere meanwhile; outside a runtime (removal on drop) it simply waits.
pub(crate) fn run(program: &str, args: &[&str]) -> anyhow::Result<()> {
    let output = wait_blocking(|| {
        Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .output()
    })
    .with_context(|| format!("running {program}"))?;
    if !output.status.success() {
        bail!(
            "{program} {}: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&output.stdout).trim(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

fn wait_blocking<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}

/// What `program` printed on its standard output (empty if it could not run).
fn output_of(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).into_owned())
        .unwrap_or_default()
}

fn quiet(program: &str, args: &[&str]) -> std::io::Result<std::process::ExitStatus> {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A heal that missed one end left host-a at 64 kbit/s for the rest of a ten-minute run,
    /// until its database connections timed out in the rolling restart.
    #[test]
    fn lifting_a_bandwidth_limit_removes_it_from_the_ends_it_was_put_on() {
        for host in Host::ALL {
            let put = bandwidth_commands(host, Some(64));
            let lifted = bandwidth_commands(host, None);
            assert_eq!(put.len(), lifted.len());
            for (put, lifted) in put.iter().zip(&lifted) {
                let position = |args: &[String]| {
                    args.iter()
                        .position(|word| word == "qdisc")
                        .expect("a qdisc command")
                };
                let (put_at, lifted_at) = (position(put), position(lifted));
                assert_eq!(put[..put_at], lifted[..lifted_at], "the same namespace");
                assert_eq!(put[put_at + 1], "replace");
                assert_eq!(lifted[lifted_at + 1], "del");
                assert_eq!(
                    put[put_at + 2..put_at + 5],
                    lifted[lifted_at + 2..lifted_at + 5],
                    "the same device and root"
                );
            }
            assert!(put[1].contains(&"-n".to_owned()) && put[1].contains(&host.namespace()));
        }
    }

    #[test]
    fn every_link_name_fits_the_kernel_limit_and_every_address_is_on_the_run_subnet() {
        for host in Host::ALL {
            assert!(host.link().len() <= 15, "{}", host.link());
            for address in host.addresses() {
                assert_eq!(address.octets()[..3], [10, 77, 0]);
            }
        }
    }
}
