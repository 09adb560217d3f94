//! The fault schedule: which fault starts when and heals when, drawn from a seed or read from a
//! file.
//!
//! # The rules every schedule keeps
//!
//! A fault *occupies* resources ([`Fault::resources`]): the replica host it touches
//! (`host-a`, `host-b`), a broker (`rabbitmq`, `nats`) or the order → product path
//! (`order-product`). While two faults are active at the same time:
//!
//! 1. they never occupy the same resource: two faults on one host or one broker would hide
//!    each other (a partition of a killed replica shows nothing) and the healing of one would
//!    undo part of the other;
//! 2. they never occupy `host-a` and `host-b` at once: one replica of every service stays
//!    healthy, so the system is expected to stay available and a failed request is a finding,
//!    not an accident of the schedule. [`Fault::RollingRestart`] occupies both hosts, so
//!    nothing else touches a replica host while it runs.
//!
//! A drawn schedule ([`Schedule::random`]) keeps more than that, so the run says something:
//!
//! - nothing starts before the warm-up (the first 10% of the run) ends, and everything has
//!   healed by 80% of the run, so the tail shows the system recovering with no fault at all;
//! - each fault lasts 8% to 25% of the run, at least 3 s and at most 45 s (from at most 15 s
//!   on long runs), and no more than what fits before 80%; a rolling restart may take up to
//!   25% of the run;
//! - up to three faults are active at once;
//! - faults that may not be active together are also [`RECOVERY_GAP_MS`] apart, so a replica
//!   or broker restarted by one has come back before the next one strikes elsewhere;
//! - a run of a minute or more holds at least one partition, one latency or loss and one kill
//!   or pause; a run of five minutes or more holds one fault of every kind; a run of two
//!   minutes or more holds a rolling restart half of the time.
//!
//! [`Schedule::validate`] checks the rules themselves (and that everything ends within the
//! run) for a schedule read from a file; the rest is left to whoever wrote the file.

use std::fmt;

use anyhow::{Context, bail};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// The least time between two faults that may not be active together, in a drawn schedule.
pub const RECOVERY_GAP_MS: u64 = 2_000;

/// The most faults a drawn schedule has active at once.
pub const MAX_CONCURRENT_FAULTS: usize = 3;

/// The shortest fault a drawn schedule holds, whatever the run's length: shorter than this,
/// the workload sends too few requests during the fault to show anything.
const MIN_FAULT_MS: u64 = 3_000;

/// The longest a drawn fault lasts: on a long run, many faults of a minute or less exercise
/// more combinations than a few that each take a quarter of it.
const MAX_FAULT_MS: u64 = 45_000;

/// The shortest fault of a long run is at most this long.
const LONGEST_SHORT_FAULT_MS: u64 = 15_000;

/// How many random candidates a drawn schedule tries to place after the guaranteed faults.
const FILL_ATTEMPTS: usize = 200;

/// How many random candidates of a guaranteed family are tried before scanning for a place.
const GUARANTEED_ATTEMPTS: usize = 200;

/// The shortest run that is promised a partition, a slowdown and a crash.
const GUARANTEE_FROM_MS: u64 = 60_000;

/// The shortest run that holds one fault of every kind (every partition, latency, loss, a
/// bandwidth limit, a replica and a broker killed and paused).
const COVERAGE_FROM_MS: u64 = 300_000;

/// The shortest run that may hold a rolling restart: restarting twelve replicas in turn takes
/// a while, and the rest of a shorter run would be left with no room for host faults.
const ROLLING_RESTART_FROM_MS: u64 = 120_000;

/// One of the two hosts that run a replica of every service: replica 0 on `host-a`, replica 1
/// on `host-b`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ReplicaHost {
    #[serde(rename = "host-a")]
    A,
    #[serde(rename = "host-b")]
    B,
}

impl ReplicaHost {
    pub const ALL: [ReplicaHost; 2] = [ReplicaHost::A, ReplicaHost::B];

    /// The network namespace's name: `host-a`, `host-b`.
    pub fn name(self) -> &'static str {
        match self {
            Self::A => "host-a",
            Self::B => "host-b",
        }
    }

    /// The index of the replicas it runs: 0 on `host-a`, 1 on `host-b`.
    pub fn replica(self) -> usize {
        match self {
            Self::A => 0,
            Self::B => 1,
        }
    }
}

impl fmt::Display for ReplicaHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A service, which runs as two replicas, one on each replica host.
pub use gateway::Service;

/// A message broker, each on a host of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Broker {
    #[serde(rename = "rabbitmq")]
    RabbitMq,
    #[serde(rename = "nats")]
    Nats,
}

impl Broker {
    pub const ALL: [Broker; 2] = [Broker::RabbitMq, Broker::Nats];

    /// `rabbitmq`, `nats`: also the resource its faults occupy.
    pub fn name(self) -> &'static str {
        match self {
            Self::RabbitMq => "rabbitmq",
            Self::Nats => "nats",
        }
    }
}

impl fmt::Display for Broker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A link that runs through a degradable proxy ([`crate::link::LinkProxy`]): the only places
/// latency and loss can be added, since the kernel has no netem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Link {
    /// The gateway's traffic to the replicas on `host-a`.
    GatewayToHostA,
    /// The traffic of the replicas on `host-b` to PostgreSQL.
    HostBToPostgres,
}

impl Link {
    pub const ALL: [Link; 2] = [Link::GatewayToHostA, Link::HostBToPostgres];

    /// `gateway → host-a`, `host-b → postgres`.
    pub fn name(self) -> &'static str {
        match self {
            Self::GatewayToHostA => "gateway → host-a",
            Self::HostBToPostgres => "host-b → postgres",
        }
    }

    /// The replica host whose traffic the link carries.
    pub fn host(self) -> ReplicaHost {
        match self {
            Self::GatewayToHostA => ReplicaHost::A,
            Self::HostBToPostgres => ReplicaHost::B,
        }
    }
}

impl fmt::Display for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One fault, applied at its start and healed at its end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "fault", rename_all = "snake_case")]
pub enum Fault {
    /// The replicas on `host` cannot reach PostgreSQL.
    DatabasePartition { host: ReplicaHost },
    /// The order replicas (on both hosts) cannot reach the product service.
    OrderProductPartition,
    /// The bridge replicas (on both hosts) cannot reach NATS.
    BridgeNatsPartition,
    /// The RabbitMQ host is cut off from everyone.
    BrokerIsolated,
    /// The minority side: `host` is cut off from everyone, gateway and backing stores included.
    HostIsolated { host: ReplicaHost },
    /// Every chunk on `link` is held `delay_ms` ± a uniform `jitter_ms`.
    Latency {
        link: Link,
        delay_ms: u64,
        jitter_ms: u64,
    },
    /// `percent` of the segments on `link` are lost (and retransmitted, see
    /// [`crate::link`]).
    Loss { link: Link, percent: u8 },
    /// A token bucket limits `host`'s link to `kbit` kbit/s.
    Bandwidth { host: ReplicaHost, kbit: u32 },
    /// SIGKILL to `service`'s replica on `host`; it is started again when the fault heals.
    KillReplica { service: Service, host: ReplicaHost },
    /// SIGSTOP to `service`'s replica on `host`; SIGCONT when the fault heals.
    PauseReplica { service: Service, host: ReplicaHost },
    /// SIGKILL to the broker; it is started again when the fault heals.
    KillBroker { broker: Broker },
    /// SIGSTOP to the broker; SIGCONT when the fault heals.
    PauseBroker { broker: Broker },
    /// Every replica restarted in turn, one at a time; the fault's end is the budget for all
    /// of them (the applier may finish earlier).
    RollingRestart,
}

impl Fault {
    /// What it does, in words an operator reads: `partition host-a ↛ postgres`,
    /// `latency 200±100 ms gateway → host-a`, `SIGKILL order #2 (host-b)`.
    pub fn name(&self) -> String {
        // Replicas are numbered from 1 for people: replica 0 is "#1".
        let replica = |service: &Service, host: &ReplicaHost| {
            format!("{service} #{} ({host})", host.replica() + 1)
        };
        match self {
            Self::DatabasePartition { host } => format!("partition {host} ↛ postgres"),
            Self::OrderProductPartition => "partition order ↛ product".to_owned(),
            Self::BridgeNatsPartition => "partition bridge ↛ nats".to_owned(),
            Self::BrokerIsolated => "isolate rabbitmq ↮ everyone".to_owned(),
            Self::HostIsolated { host } => format!("isolate {host} ↮ everyone"),
            Self::Latency {
                link,
                delay_ms,
                jitter_ms,
            } => format!("latency {delay_ms}±{jitter_ms} ms {link}"),
            Self::Loss { link, percent } => format!("loss {percent}% {link}"),
            Self::Bandwidth { host, kbit } => format!("bandwidth {kbit} kbit/s {host}"),
            Self::KillReplica { service, host } => format!("SIGKILL {}", replica(service, host)),
            Self::PauseReplica { service, host } => format!("SIGSTOP {}", replica(service, host)),
            Self::KillBroker { broker } => format!("SIGKILL {broker}"),
            Self::PauseBroker { broker } => format!("SIGSTOP {broker}"),
            Self::RollingRestart => "rolling restart of every replica".to_owned(),
        }
    }

    /// Its family, as [`crate::history::FaultWindow::kind`] records it: `partition`,
    /// `latency`, `loss`, `bandwidth`, `kill`, `pause`, `restart`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::DatabasePartition { .. }
            | Self::OrderProductPartition
            | Self::BridgeNatsPartition
            | Self::BrokerIsolated
            | Self::HostIsolated { .. } => "partition",
            Self::Latency { .. } => "latency",
            Self::Loss { .. } => "loss",
            Self::Bandwidth { .. } => "bandwidth",
            Self::KillReplica { .. } | Self::KillBroker { .. } => "kill",
            Self::PauseReplica { .. } | Self::PauseBroker { .. } => "pause",
            Self::RollingRestart => "restart",
        }
    }

    /// What it occupies while active (see the module's rules): `host-a`, `host-b`, `rabbitmq`,
    /// `nats`, `order-product`.
    pub fn resources(&self) -> Vec<String> {
        let names: Vec<&str> = match self {
            Self::DatabasePartition { host }
            | Self::HostIsolated { host }
            | Self::Bandwidth { host, .. }
            | Self::KillReplica { host, .. }
            | Self::PauseReplica { host, .. } => vec![host.name()],
            Self::Latency { link, .. } | Self::Loss { link, .. } => vec![link.host().name()],
            Self::OrderProductPartition => vec!["order-product"],
            Self::BridgeNatsPartition => vec![Broker::Nats.name()],
            Self::BrokerIsolated => vec![Broker::RabbitMq.name()],
            Self::KillBroker { broker } | Self::PauseBroker { broker } => vec![broker.name()],
            Self::RollingRestart => vec![ReplicaHost::A.name(), ReplicaHost::B.name()],
        };
        names.into_iter().map(str::to_owned).collect()
    }

    /// Whether the two may not be active at the same time: one is a rolling restart, they
    /// share a resource, or one occupies `host-a` and the other `host-b`.
    pub fn conflicts_with(&self, other: &Fault) -> bool {
        let mine = self.resources();
        let theirs = other.resources();
        let occupies = |resources: &[String], host: ReplicaHost| {
            resources.iter().any(|resource| resource == host.name())
        };
        // A rolling restart waits for each replica to be ready again, which a fault elsewhere
        // could hold up for minutes: it runs alone.
        matches!(self, Self::RollingRestart)
            || matches!(other, Self::RollingRestart)
            || mine.iter().any(|resource| theirs.contains(resource))
            || (occupies(&mine, ReplicaHost::A) && occupies(&theirs, ReplicaHost::B))
            || (occupies(&mine, ReplicaHost::B) && occupies(&theirs, ReplicaHost::A))
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// A fault and its window, in milliseconds since the workload started. In a file the fault's
/// fields sit beside the times:
/// `{"fault": "latency", "link": "gateway_to_host_a", "delay_ms": 200, "jitter_ms": 100,
/// "start_ms": 10000, "end_ms": 25000}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduledFault {
    #[serde(flatten)]
    pub fault: Fault,
    /// When it is applied.
    pub start_ms: u64,
    /// When it heals.
    pub end_ms: u64,
}

impl ScheduledFault {
    /// Whether the two windows come closer than `gap_ms` (with 0: whether they overlap;
    /// windows are half-open, so one may start the moment the other ends).
    fn within(&self, other: &ScheduledFault, gap_ms: u64) -> bool {
        self.start_ms < other.end_ms.saturating_add(gap_ms)
            && other.start_ms < self.end_ms.saturating_add(gap_ms)
    }

    fn is_active_at(&self, at_ms: u64) -> bool {
        self.start_ms <= at_ms && at_ms < self.end_ms
    }
}

/// The faults of one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    /// The seed it was drawn from; none for a schedule written by hand.
    #[serde(default)]
    pub seed: Option<u64>,
    /// The faults, by start time.
    pub faults: Vec<ScheduledFault>,
}

impl Schedule {
    /// A schedule for a run of `duration_ms`, the same for the same seed (see the module's
    /// rules). A run too short to hold a fault of 3 s between its warm-up and its quiet tail
    /// gets none.
    pub fn random(seed: u64, duration_ms: u64) -> Schedule {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut planner = Planner::new(duration_ms);
        if planner.has_room() {
            if duration_ms >= ROLLING_RESTART_FROM_MS && rng.random_bool(0.5) {
                // First, while the run is empty: it needs both hosts for a long window.
                let budget = planner.restart_budget;
                planner.place_random(
                    &mut rng,
                    GUARANTEED_ATTEMPTS,
                    |_| Fault::RollingRestart,
                    (budget, budget),
                );
            }
            if duration_ms >= COVERAGE_FROM_MS {
                for fault in one_of_each_kind(&mut rng) {
                    planner.place_kind(&mut rng, fault);
                }
            } else if duration_ms >= GUARANTEE_FROM_MS {
                for family in [Family::Slowdown, Family::Crash, Family::Partition] {
                    planner.place_guaranteed(&mut rng, family);
                }
            }
            let lengths = (planner.min_len, planner.max_len);
            for _ in 0..FILL_ATTEMPTS {
                let family = *FILL_FAMILIES
                    .choose(&mut rng)
                    .expect("families to choose from");
                planner.place_random(&mut rng, 1, |rng| family.draw(rng), lengths);
            }
        }
        let mut faults = planner.placed;
        faults.sort_by_key(|scheduled| (scheduled.start_ms, scheduled.end_ms));
        Schedule {
            seed: Some(seed),
            faults,
        }
    }

    /// A schedule as [`Schedule::to_json`] writes it. It is not validated: see
    /// [`Schedule::validate`].
    pub fn from_json(text: &str) -> anyhow::Result<Schedule> {
        serde_json::from_str(text).context("reading a fault schedule")
    }

    /// The schedule as a file (pretty JSON).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a schedule is plain data and always serialises")
    }

    /// Checks a schedule (typically read from a file) for a run of `duration_ms`: every fault
    /// starts before it ends and heals by the end of the run, its parameters make sense, and no
    /// two faults active at once break the module's rules.
    pub fn validate(&self, duration_ms: u64) -> anyhow::Result<()> {
        for scheduled in &self.faults {
            let name = scheduled.fault.name();
            if scheduled.start_ms >= scheduled.end_ms {
                bail!(
                    "{name}: starts at {} ms but ends at {} ms",
                    scheduled.start_ms,
                    scheduled.end_ms
                );
            }
            if scheduled.end_ms > duration_ms {
                bail!(
                    "{name}: ends at {} ms, after the run's end at {duration_ms} ms",
                    scheduled.end_ms
                );
            }
            match scheduled.fault {
                Fault::Loss { percent, .. } if percent > 100 => {
                    bail!("{name}: a loss of more than 100%")
                }
                Fault::Bandwidth { kbit: 0, .. } => bail!("{name}: a bandwidth of nothing"),
                _ => {}
            }
        }
        for (index, first) in self.faults.iter().enumerate() {
            for second in &self.faults[index + 1..] {
                if first.within(second, 0) && first.fault.conflicts_with(&second.fault) {
                    bail!(
                        "{} ({}–{} ms) and {} ({}–{} ms) are active at once on {} and {}: \
                         faults may not share a resource or touch both replica hosts at once",
                        first.fault.name(),
                        first.start_ms,
                        first.end_ms,
                        second.fault.name(),
                        second.start_ms,
                        second.end_ms,
                        first.fault.resources().join(", "),
                        second.fault.resources().join(", "),
                    );
                }
            }
        }
        Ok(())
    }
}

/// A family of faults a drawn schedule picks from.
#[derive(Debug, Clone, Copy)]
enum Family {
    Partition,
    /// Latency or loss.
    Slowdown,
    Bandwidth,
    /// Kill or pause.
    Crash,
}

/// One fault of every kind there is, parameters and targets drawn: what a long run covers.
fn one_of_each_kind(rng: &mut StdRng) -> Vec<Fault> {
    let mut host = || *ReplicaHost::ALL.choose(rng).expect("hosts");
    let kinds = [
        Fault::DatabasePartition { host: host() },
        Fault::HostIsolated { host: host() },
        Fault::OrderProductPartition,
        Fault::BridgeNatsPartition,
        Fault::BrokerIsolated,
    ];
    let mut faults = kinds.to_vec();
    // Latency and loss both, on links drawn for each.
    let slowdowns = [Family::Slowdown.latency(rng), Family::Slowdown.loss(rng)];
    faults.extend(slowdowns);
    faults.push(Family::Bandwidth.draw(rng));
    let service = *Service::ALL.choose(rng).expect("services");
    let broker = *Broker::ALL.choose(rng).expect("brokers");
    let host = *ReplicaHost::ALL.choose(rng).expect("hosts");
    faults.extend([
        Fault::KillReplica { service, host },
        Fault::PauseReplica {
            service: *Service::ALL.choose(rng).expect("services"),
            host: *ReplicaHost::ALL.choose(rng).expect("hosts"),
        },
        Fault::KillBroker { broker },
        Fault::PauseBroker {
            broker: *Broker::ALL.choose(rng).expect("brokers"),
        },
    ]);
    faults
}

/// The families the rest of a drawn schedule is filled from, partitions and crashes twice as
/// likely as bandwidth limits, which only matter to large answers.
const FILL_FAMILIES: [Family; 7] = [
    Family::Partition,
    Family::Partition,
    Family::Slowdown,
    Family::Slowdown,
    Family::Bandwidth,
    Family::Crash,
    Family::Crash,
];

impl Family {
    /// One fault of the family with random parameters.
    fn draw(self, rng: &mut StdRng) -> Fault {
        let host = *ReplicaHost::ALL.choose(rng).expect("hosts");
        let service = *Service::ALL.choose(rng).expect("services");
        let broker = *Broker::ALL.choose(rng).expect("brokers");
        match self {
            Self::Partition => match rng.random_range(0..5) {
                0 => Fault::DatabasePartition { host },
                1 => Fault::OrderProductPartition,
                2 => Fault::BridgeNatsPartition,
                3 => Fault::BrokerIsolated,
                _ => Fault::HostIsolated { host },
            },
            Self::Slowdown => {
                if rng.random_bool(0.5) {
                    self.latency(rng)
                } else {
                    self.loss(rng)
                }
            }
            Self::Bandwidth => Fault::Bandwidth {
                host,
                kbit: *[64, 128, 256, 512, 1024].choose(rng).expect("rates"),
            },
            Self::Crash => {
                // Brokers are one host each and replicas twelve: a quarter of the crashes hit
                // a broker so both kinds show up in most runs.
                let on_broker = rng.random_bool(0.25);
                match (rng.random_bool(0.5), on_broker) {
                    (true, false) => Fault::KillReplica { service, host },
                    (false, false) => Fault::PauseReplica { service, host },
                    (true, true) => Fault::KillBroker { broker },
                    (false, true) => Fault::PauseBroker { broker },
                }
            }
        }
    }

    /// Latency with jitter on a link, drawn.
    fn latency(self, rng: &mut StdRng) -> Fault {
        let delay_ms = rng.random_range(50..=400);
        Fault::Latency {
            link: *Link::ALL.choose(rng).expect("links"),
            delay_ms,
            jitter_ms: rng.random_range(0..=delay_ms / 2),
        }
    }

    /// Loss on a link, drawn.
    fn loss(self, rng: &mut StdRng) -> Fault {
        Fault::Loss {
            link: *Link::ALL.choose(rng).expect("links"),
            percent: rng.random_range(2..=30),
        }
    }

    /// Every fault of the family that differs in what it occupies, parameters drawn: what a
    /// guaranteed family falls back on when random candidates found no room.
    fn each_placement(self, rng: &mut StdRng) -> Vec<Fault> {
        match self {
            Self::Partition => vec![
                Fault::OrderProductPartition,
                Fault::BridgeNatsPartition,
                Fault::BrokerIsolated,
                Fault::DatabasePartition {
                    host: ReplicaHost::A,
                },
                Fault::DatabasePartition {
                    host: ReplicaHost::B,
                },
            ],
            Self::Slowdown => Link::ALL
                .iter()
                .map(|&link| Fault::Latency {
                    link,
                    delay_ms: rng.random_range(50..=400),
                    jitter_ms: 0,
                })
                .collect(),
            Self::Bandwidth => ReplicaHost::ALL
                .iter()
                .map(|&host| Fault::Bandwidth { host, kbit: 256 })
                .collect(),
            Self::Crash => {
                let service = *Service::ALL.choose(rng).expect("services");
                let mut faults: Vec<Fault> = Broker::ALL
                    .iter()
                    .map(|&broker| Fault::KillBroker { broker })
                    .collect();
                faults.extend(
                    ReplicaHost::ALL
                        .iter()
                        .map(|&host| Fault::KillReplica { service, host }),
                );
                faults
            }
        }
    }
}

/// `percent`% of `duration_ms`, rounded down (in u128 so no run is too long).
fn percent_of(duration_ms: u64, percent: u64) -> u64 {
    (u128::from(duration_ms) * u128::from(percent) / 100) as u64
}

/// Places faults on a run's timeline by the module's rules.
struct Planner {
    /// Nothing starts before this: the warm-up.
    warmup_end: u64,
    /// Everything has healed by this: the quiet tail.
    quiet_from: u64,
    min_len: u64,
    max_len: u64,
    /// How long a rolling restart may take: twelve replicas, one after the other.
    restart_budget: u64,
    placed: Vec<ScheduledFault>,
}

impl Planner {
    fn new(duration_ms: u64) -> Planner {
        let warmup_end = percent_of(duration_ms, 10);
        let quiet_from = percent_of(duration_ms, 80);
        let room = quiet_from - warmup_end;
        let min_len = percent_of(duration_ms, 8).clamp(MIN_FAULT_MS, LONGEST_SHORT_FAULT_MS);
        let max_len = percent_of(duration_ms, 25)
            .min(MAX_FAULT_MS)
            .max(min_len)
            .min(room);
        Planner {
            warmup_end,
            quiet_from,
            min_len,
            max_len,
            restart_budget: percent_of(duration_ms, 25).max(min_len).min(room),
            placed: Vec::new(),
        }
    }

    fn has_room(&self) -> bool {
        self.quiet_from - self.warmup_end >= self.min_len
    }

    /// Tries `attempts` faults drawn by `draw`, each lasting `min_len` to `max_len` at a
    /// random time, and places the first that fits.
    fn place_random(
        &mut self,
        rng: &mut StdRng,
        attempts: usize,
        mut draw: impl FnMut(&mut StdRng) -> Fault,
        (min_len, max_len): (u64, u64),
    ) -> bool {
        for _ in 0..attempts {
            let fault = draw(rng);
            let len = rng.random_range(min_len..=max_len.max(min_len));
            let start_ms = rng.random_range(self.warmup_end..=self.quiet_from - len);
            let candidate = ScheduledFault {
                fault,
                start_ms,
                end_ms: start_ms + len,
            };
            if self.fits(&candidate) {
                self.placed.push(candidate);
                return true;
            }
        }
        false
    }

    /// Places a fault of `family`: random candidates first, then, so the promise holds
    /// whatever the dice said, the shortest fault of each placement at the earliest time it
    /// fits. The earliest fit of a window starts at the warm-up's end or where a placed fault
    /// ends (plus the recovery gap), so those are the only starts to try.
    fn place_guaranteed(&mut self, rng: &mut StdRng, family: Family) {
        let lengths = (self.min_len, self.max_len);
        if self.place_random(rng, GUARANTEED_ATTEMPTS, |rng| family.draw(rng), lengths) {
            return;
        }
        let candidates = family.each_placement(rng);
        self.place_earliest(&candidates);
    }

    /// Places `fault` (a long run's coverage): at random first, then at the earliest fit.
    fn place_kind(&mut self, rng: &mut StdRng, fault: Fault) {
        let lengths = (self.min_len, self.max_len);
        if !self.place_random(rng, GUARANTEED_ATTEMPTS, |_| fault.clone(), lengths) {
            self.place_earliest(std::slice::from_ref(&fault));
        }
    }

    /// Places the first of `candidates` that fits, as short as allowed, at the earliest start
    /// it fits at; returns whether one did.
    fn place_earliest(&mut self, candidates: &[Fault]) -> bool {
        let mut starts: Vec<u64> = std::iter::once(self.warmup_end)
            .chain(self.placed.iter().map(|placed| placed.end_ms))
            .chain(
                self.placed
                    .iter()
                    .map(|placed| placed.end_ms + RECOVERY_GAP_MS),
            )
            .collect();
        starts.sort_unstable();
        for fault in candidates {
            for &start_ms in &starts {
                let candidate = ScheduledFault {
                    fault: fault.clone(),
                    start_ms,
                    end_ms: start_ms + self.min_len,
                };
                if self.fits(&candidate) {
                    self.placed.push(candidate);
                    return true;
                }
            }
        }
        false
    }

    fn fits(&self, candidate: &ScheduledFault) -> bool {
        if candidate.start_ms < self.warmup_end || candidate.end_ms > self.quiet_from {
            return false;
        }
        let conflicting = self.placed.iter().any(|placed| {
            placed.within(candidate, RECOVERY_GAP_MS)
                && placed.fault.conflicts_with(&candidate.fault)
        });
        if conflicting {
            return false;
        }
        // The most faults active at once within the candidate's window is reached at its start
        // or at the start of one of the faults overlapping it.
        let overlapping: Vec<&ScheduledFault> = self
            .placed
            .iter()
            .filter(|placed| placed.within(candidate, 0))
            .collect();
        let busiest = std::iter::once(candidate.start_ms)
            .chain(
                overlapping
                    .iter()
                    .map(|placed| placed.start_ms)
                    .filter(|&start| candidate.is_active_at(start)),
            )
            .map(|at_ms| {
                overlapping
                    .iter()
                    .filter(|placed| placed.is_active_at(at_ms))
                    .count()
            })
            .max()
            .unwrap_or(0);
        busiest < MAX_CONCURRENT_FAULTS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DURATIONS_MS: [u64; 5] = [20_000, 60_000, 120_000, 300_000, 600_000];

    fn is_slowdown(fault: &Fault) -> bool {
        matches!(fault.kind(), "latency" | "loss")
    }

    fn is_crash(fault: &Fault) -> bool {
        matches!(fault.kind(), "kill" | "pause")
    }

    #[test]
    fn the_same_seed_draws_the_same_schedule() {
        for duration_ms in DURATIONS_MS {
            assert_eq!(
                Schedule::random(7, duration_ms),
                Schedule::random(7, duration_ms)
            );
        }
    }

    #[test]
    fn different_seeds_draw_different_schedules() {
        for seed in 0..20 {
            assert_ne!(
                Schedule::random(seed, 300_000).faults,
                Schedule::random(seed + 1, 300_000).faults,
                "seeds {seed} and {}",
                seed + 1
            );
        }
    }

    #[test]
    fn runs_of_five_minutes_hold_every_kind_of_fault() {
        let kind_names = |schedule: &Schedule| -> std::collections::BTreeSet<String> {
            schedule
                .faults
                .iter()
                .map(|scheduled| {
                    let name = format!("{:?}", scheduled.fault);
                    name.split([' ', '{']).next().unwrap_or_default().to_owned()
                })
                .collect()
        };
        for seed in 0..50 {
            let schedule = Schedule::random(seed, 600_000);
            let kinds = kind_names(&schedule);
            for kind in [
                "DatabasePartition",
                "HostIsolated",
                "OrderProductPartition",
                "BridgeNatsPartition",
                "BrokerIsolated",
                "Latency",
                "Loss",
                "Bandwidth",
                "KillReplica",
                "PauseReplica",
                "KillBroker",
                "PauseBroker",
            ] {
                assert!(kinds.contains(kind), "seed {seed}: no {kind} in {kinds:?}");
            }
        }
    }

    #[test]
    fn drawn_schedules_keep_the_rules_and_heal_before_the_quiet_tail() {
        for duration_ms in DURATIONS_MS {
            let min_len = (duration_ms * 8 / 100).clamp(MIN_FAULT_MS, LONGEST_SHORT_FAULT_MS);
            let max_len = (duration_ms * 25 / 100).min(MAX_FAULT_MS);
            let restart_len = duration_ms * 25 / 100;
            for seed in 0..200 {
                let schedule = Schedule::random(seed, duration_ms);
                let context = format!("seed {seed}, {duration_ms} ms: {schedule:#?}");
                schedule.validate(duration_ms).expect(&context);
                assert!(!schedule.faults.is_empty(), "{context}");
                for (index, scheduled) in schedule.faults.iter().enumerate() {
                    assert!(scheduled.start_ms >= duration_ms / 10, "{context}");
                    assert!(scheduled.end_ms <= duration_ms * 8 / 10, "{context}");
                    let len = scheduled.end_ms - scheduled.start_ms;
                    if scheduled.fault == Fault::RollingRestart {
                        assert_eq!(len, restart_len, "{context}");
                    } else {
                        assert!((min_len..=max_len).contains(&len), "{len} ms: {context}");
                    }
                    for other in &schedule.faults[index + 1..] {
                        assert!(
                            !(scheduled.within(other, RECOVERY_GAP_MS)
                                && scheduled.fault.conflicts_with(&other.fault)),
                            "{scheduled:?} and {other:?}: {context}"
                        );
                    }
                    let active = schedule
                        .faults
                        .iter()
                        .filter(|other| other.is_active_at(scheduled.start_ms))
                        .count();
                    assert!(active <= MAX_CONCURRENT_FAULTS, "{context}");
                }
            }
        }
    }

    #[test]
    fn drawn_schedules_overlap_faults() {
        let overlapping = (0..50)
            .filter(|&seed| {
                let faults = Schedule::random(seed, 300_000).faults;
                faults.iter().any(|scheduled| {
                    faults
                        .iter()
                        .filter(|other| other.is_active_at(scheduled.start_ms))
                        .count()
                        == MAX_CONCURRENT_FAULTS
                })
            })
            .count();
        assert!(overlapping > 0, "no schedule ever had three faults at once");
    }

    #[test]
    fn runs_of_a_minute_hold_a_partition_a_slowdown_and_a_crash() {
        for duration_ms in [60_000, 90_000, 120_000, 600_000] {
            for seed in 0..200 {
                let schedule = Schedule::random(seed, duration_ms);
                let has = |wanted: fn(&Fault) -> bool| {
                    schedule
                        .faults
                        .iter()
                        .any(|scheduled| wanted(&scheduled.fault))
                };
                let context = format!("seed {seed}, {duration_ms} ms: {schedule:#?}");
                assert!(has(|fault| fault.kind() == "partition"), "{context}");
                assert!(has(is_slowdown), "{context}");
                assert!(has(is_crash), "{context}");
            }
        }
    }

    #[test]
    fn a_guaranteed_fault_finds_the_last_slot_left() {
        // A minute: warm-up until 6 s, quiet from 48 s, faults of at least 4.8 s. A rolling
        // restart leaves the replica hosts exactly one such slot, 6–10.8 s, which random
        // candidates all but never hit.
        let mut planner = Planner::new(60_000);
        planner.placed.push(scheduled(
            Fault::RollingRestart,
            6_000 + 4_800 + RECOVERY_GAP_MS,
            48_000,
        ));
        planner.place_guaranteed(&mut StdRng::seed_from_u64(1), Family::Slowdown);
        let placed = &planner.placed[1];
        assert!(is_slowdown(&placed.fault), "{placed:?}");
        assert_eq!((placed.start_ms, placed.end_ms), (6_000, 10_800));
    }

    #[test]
    fn rolling_restarts_come_on_long_runs_only() {
        let with_restart = |duration_ms| {
            (0..100)
                .filter(|&seed| {
                    Schedule::random(seed, duration_ms)
                        .faults
                        .iter()
                        .any(|scheduled| scheduled.fault == Fault::RollingRestart)
                })
                .count()
        };
        assert_eq!(with_restart(60_000), 0);
        assert!((20..=80).contains(&with_restart(600_000)));
    }

    #[test]
    fn a_run_too_short_for_a_fault_gets_none() {
        assert!(Schedule::random(1, 3_000).faults.is_empty());
        Schedule::random(1, 0).validate(0).unwrap();
    }

    #[test]
    fn a_schedule_file_round_trips() {
        let schedule = Schedule::random(11, 600_000);
        assert_eq!(Schedule::from_json(&schedule.to_json()).unwrap(), schedule);

        let written_by_hand = r#"{
            "faults": [
                {"fault": "latency", "link": "gateway_to_host_a", "delay_ms": 200,
                 "jitter_ms": 100, "start_ms": 10000, "end_ms": 25000},
                {"fault": "kill_replica", "service": "order", "host": "host-b",
                 "start_ms": 30000, "end_ms": 40000},
                {"fault": "pause_broker", "broker": "rabbitmq", "start_ms": 12000, "end_ms": 20000},
                {"fault": "rolling_restart", "start_ms": 45000, "end_ms": 55000}
            ]
        }"#;
        let schedule = Schedule::from_json(written_by_hand).unwrap();
        assert_eq!(schedule.seed, None);
        let names: Vec<String> = schedule
            .faults
            .iter()
            .map(|scheduled| scheduled.fault.name())
            .collect();
        assert_eq!(
            names,
            [
                "latency 200±100 ms gateway → host-a",
                "SIGKILL order #2 (host-b)",
                "SIGSTOP rabbitmq",
                "rolling restart of every replica",
            ]
        );
        schedule.validate(60_000).unwrap();
        assert_eq!(Schedule::from_json(&schedule.to_json()).unwrap(), schedule);

        assert!(Schedule::from_json(r#"{"faults": [{"fault": "flood"}]}"#).is_err());
    }

    fn scheduled(fault: Fault, start_ms: u64, end_ms: u64) -> ScheduledFault {
        ScheduledFault {
            fault,
            start_ms,
            end_ms,
        }
    }

    fn schedule_of(faults: Vec<ScheduledFault>) -> Schedule {
        Schedule { seed: None, faults }
    }

    #[test]
    fn validate_refuses_two_faults_on_one_resource_at_once() {
        let partition = Fault::DatabasePartition {
            host: ReplicaHost::A,
        };
        let kill = Fault::KillReplica {
            service: Service::Order,
            host: ReplicaHost::A,
        };
        let overlapping = schedule_of(vec![
            scheduled(partition.clone(), 10_000, 20_000),
            scheduled(kill.clone(), 15_000, 25_000),
        ]);
        let error = overlapping.validate(60_000).unwrap_err().to_string();
        assert!(error.contains("host-a"), "{error}");

        let one_after_the_other = schedule_of(vec![
            scheduled(partition, 10_000, 20_000),
            scheduled(kill, 20_000, 25_000),
        ]);
        one_after_the_other.validate(60_000).unwrap();

        let same_broker = schedule_of(vec![
            scheduled(Fault::BridgeNatsPartition, 10_000, 20_000),
            scheduled(
                Fault::PauseBroker {
                    broker: Broker::Nats,
                },
                19_000,
                25_000,
            ),
        ]);
        assert!(same_broker.validate(60_000).is_err());
    }

    #[test]
    fn validate_refuses_faults_on_both_replica_hosts_at_once() {
        let both_hosts = schedule_of(vec![
            scheduled(
                Fault::Latency {
                    link: Link::GatewayToHostA,
                    delay_ms: 100,
                    jitter_ms: 0,
                },
                10_000,
                20_000,
            ),
            scheduled(
                Fault::Loss {
                    link: Link::HostBToPostgres,
                    percent: 10,
                },
                15_000,
                25_000,
            ),
        ]);
        assert!(both_hosts.validate(60_000).is_err());

        let restart_and_host_fault = schedule_of(vec![
            scheduled(Fault::RollingRestart, 10_000, 30_000),
            scheduled(
                Fault::Bandwidth {
                    host: ReplicaHost::B,
                    kbit: 128,
                },
                29_000,
                35_000,
            ),
        ]);
        assert!(restart_and_host_fault.validate(60_000).is_err());

        // A rolling restart runs alone, even beside faults on nothing it restarts.
        let restart_and_broker_fault = schedule_of(vec![
            scheduled(Fault::RollingRestart, 10_000, 30_000),
            scheduled(Fault::BrokerIsolated, 12_000, 20_000),
        ]);
        assert!(restart_and_broker_fault.validate(60_000).is_err());

        let different_resources = schedule_of(vec![
            scheduled(Fault::OrderProductPartition, 12_000, 20_000),
            scheduled(Fault::BrokerIsolated, 12_000, 20_000),
            scheduled(
                Fault::KillBroker {
                    broker: Broker::Nats,
                },
                12_000,
                20_000,
            ),
        ]);
        different_resources.validate(60_000).unwrap();
    }

    #[test]
    fn validate_refuses_a_fault_out_of_the_run() {
        let after_the_end = schedule_of(vec![scheduled(Fault::BrokerIsolated, 50_000, 61_000)]);
        let error = after_the_end.validate(60_000).unwrap_err().to_string();
        assert!(error.contains("after the run's end"), "{error}");

        let backwards = schedule_of(vec![scheduled(Fault::BrokerIsolated, 20_000, 10_000)]);
        assert!(backwards.validate(60_000).is_err());

        let empty_window = schedule_of(vec![scheduled(Fault::BrokerIsolated, 20_000, 20_000)]);
        assert!(empty_window.validate(60_000).is_err());

        let too_lossy = schedule_of(vec![scheduled(
            Fault::Loss {
                link: Link::GatewayToHostA,
                percent: 101,
            },
            10_000,
            20_000,
        )]);
        assert!(too_lossy.validate(60_000).is_err());
    }

    #[test]
    fn faults_name_what_they_do_and_what_they_occupy() {
        let cases = [
            (
                Fault::DatabasePartition {
                    host: ReplicaHost::A,
                },
                "partition host-a ↛ postgres",
                "partition",
                vec!["host-a"],
            ),
            (
                Fault::HostIsolated {
                    host: ReplicaHost::B,
                },
                "isolate host-b ↮ everyone",
                "partition",
                vec!["host-b"],
            ),
            (
                Fault::OrderProductPartition,
                "partition order ↛ product",
                "partition",
                vec!["order-product"],
            ),
            (
                Fault::BridgeNatsPartition,
                "partition bridge ↛ nats",
                "partition",
                vec!["nats"],
            ),
            (
                Fault::BrokerIsolated,
                "isolate rabbitmq ↮ everyone",
                "partition",
                vec!["rabbitmq"],
            ),
            (
                Fault::Latency {
                    link: Link::GatewayToHostA,
                    delay_ms: 200,
                    jitter_ms: 100,
                },
                "latency 200±100 ms gateway → host-a",
                "latency",
                vec!["host-a"],
            ),
            (
                Fault::Loss {
                    link: Link::HostBToPostgres,
                    percent: 15,
                },
                "loss 15% host-b → postgres",
                "loss",
                vec!["host-b"],
            ),
            (
                Fault::Bandwidth {
                    host: ReplicaHost::A,
                    kbit: 256,
                },
                "bandwidth 256 kbit/s host-a",
                "bandwidth",
                vec!["host-a"],
            ),
            (
                Fault::KillReplica {
                    service: Service::Order,
                    host: ReplicaHost::B,
                },
                "SIGKILL order #2 (host-b)",
                "kill",
                vec!["host-b"],
            ),
            (
                Fault::PauseReplica {
                    service: Service::Storefront,
                    host: ReplicaHost::A,
                },
                "SIGSTOP storefront #1 (host-a)",
                "pause",
                vec!["host-a"],
            ),
            (
                Fault::KillBroker {
                    broker: Broker::Nats,
                },
                "SIGKILL nats",
                "kill",
                vec!["nats"],
            ),
            (
                Fault::PauseBroker {
                    broker: Broker::RabbitMq,
                },
                "SIGSTOP rabbitmq",
                "pause",
                vec!["rabbitmq"],
            ),
            (
                Fault::RollingRestart,
                "rolling restart of every replica",
                "restart",
                vec!["host-a", "host-b"],
            ),
        ];
        for (fault, name, kind, resources) in cases {
            assert_eq!(fault.name(), name);
            assert_eq!(fault.to_string(), name);
            assert_eq!(fault.kind(), kind, "{name}");
            assert_eq!(fault.resources(), resources, "{name}");
        }
    }
}
