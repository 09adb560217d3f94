//! A replica behind the gateway stops without failing a request only if it keeps serving after
//! SIGTERM (readiness answering 503) until the gateway's health check has taken it out, and if
//! its orchestrator waits for that drain and the in-flight deadline before killing it. Both
//! numbers live in other files than the check they depend on, so they are checked together:
//! `SHUTDOWN_DRAIN_MS` above the time HAProxy's checks (routes.cfg's defaults, the platform's
//! server lines) take to see it failing, and compose's
//! `stop_grace_period` and Nomad's `kill_timeout` at least the drain plus
//! `SHUTDOWN_TIMEOUT_SECS`.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::haproxy::{COMPOSE_BACKENDS, ROUTES, nomad_backends_template, sections};
use crate::support::{
    compose_shop_environments, nomad_shop_tasks, nomad_task_environment, read, resolved_compose,
    text,
};

/// The binaries the gateway balances over (the others have no public API).
const BEHIND_THE_GATEWAY: [&str; 4] = [
    "user-service",
    "product-service",
    "order-service",
    "storefront",
];

/// The services' default for `SHUTDOWN_TIMEOUT_SECS`.
const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// A duration as the deployment files write it: a number and a unit (`us`, `ms`, `s`, `m`,
/// `h`, `d`), quoted or not. Nomad and compose require the unit (`bare: None`); HAProxy reads a
/// bare number as milliseconds.
fn duration_in(text: &str, bare: Option<Duration>) -> Duration {
    let text = text.trim().trim_matches('"');
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let number: u32 = number
        .parse()
        .unwrap_or_else(|_| panic!("a duration: {text:?}"));
    let unit = match unit {
        "" => bare.unwrap_or_else(|| panic!("a duration without a unit: {text:?}")),
        "us" => Duration::from_micros(1),
        "ms" => Duration::from_millis(1),
        "s" => Duration::from_secs(1),
        "m" => Duration::from_secs(60),
        "h" => Duration::from_secs(3600),
        "d" => Duration::from_secs(86_400),
        other => panic!("unit {other:?} in {text:?}"),
    };
    unit * number
}

/// A Nomad or compose duration: `20s`, `500ms`, `1m`.
fn duration(text: &str) -> Duration {
    duration_in(text, None)
}

/// An HAProxy duration: milliseconds when it names no unit.
fn haproxy_duration(text: &str) -> Duration {
    duration_in(text, Some(Duration::from_millis(1)))
}

/// Health-check settings as a server line, a `default-server` line or a section set them
/// (`None`: not set there).
#[derive(Debug, Clone, Copy, Default)]
struct Check {
    inter: Option<Duration>,
    fastinter: Option<Duration>,
    fall: Option<u32>,
    timeout: Option<Duration>,
}

impl Check {
    fn over(self, base: Check) -> Check {
        Check {
            inter: self.inter.or(base.inter),
            fastinter: self.fastinter.or(base.fastinter),
            fall: self.fall.or(base.fall),
            timeout: self.timeout.or(base.timeout),
        }
    }

    /// What a server line or a `default-server` line sets.
    fn of_server_line(line: &str) -> Check {
        let words: Vec<&str> = line.split_whitespace().collect();
        assert!(
            !words.contains(&"no-check"),
            "a server the gateway never checks: {line}"
        );
        let after = |keyword: &str| {
            words
                .iter()
                .position(|word| *word == keyword)
                .and_then(|at| words.get(at + 1))
                .copied()
        };
        Check {
            inter: after("inter").map(haproxy_duration),
            fastinter: after("fastinter").map(haproxy_duration),
            fall: after("fall").map(|fall| fall.parse().expect("fall is a count")),
            timeout: None,
        }
    }

    /// What a section's lines set: `default-server` and `timeout check`.
    fn of_section(lines: &[String]) -> Check {
        let mut check = Check::default();
        for line in lines {
            if line.starts_with("default-server ") {
                check = Check::of_server_line(line).over(check);
            } else if let Some(timeout) = line.strip_prefix("timeout check ") {
                check.timeout = Some(haproxy_duration(timeout.trim()));
            }
        }
        check
    }

    /// How long a replica whose readiness fails may still get requests: `fall` failed checks,
    /// the first within `inter`, the next `fastinter` apart (`inter` unless set), the last
    /// answering within the check timeout.
    fn time_to_take_out(self, line: &str) -> Duration {
        // HAProxy's own defaults: every 2 s, three failures, the interval as the timeout.
        let inter = self.inter.unwrap_or(Duration::from_secs(2));
        let fall = self.fall.unwrap_or(3);
        let fastinter = self.fastinter.unwrap_or(inter);
        let timeout = self.timeout.unwrap_or(inter);
        assert!(fall >= 1, "{line}");
        inter + fastinter * (fall - 1) + timeout
    }
}

/// The longest a replica whose readiness fails still gets requests, over every server of the
/// gateway's backends (`backends`, read after `routes` and taking the defaults of its
/// `defaults replicas` section, as HAProxy does), `count` backends each with servers.
fn slowest_health_check(routes: &str, backends: &str, count: usize) -> Duration {
    let defaults = sections(routes)
        .into_iter()
        .find(|section| section.kind == "defaults" && section.name == "replicas")
        .map(|section| Check::of_section(&section.lines))
        .expect("routes.cfg has the replicas' defaults");
    let mut slowest = Vec::new();
    for backend in sections(backends)
        .into_iter()
        .filter(|section| section.kind == "backend")
    {
        let own = Check::of_section(&backend.lines).over(defaults);
        let servers: Vec<Duration> = backend
            .lines
            .iter()
            .filter(|line| line.starts_with("server ") || line.starts_with("server-template "))
            .map(|line| Check::of_server_line(line).over(own).time_to_take_out(line))
            .collect();
        assert!(
            !servers.is_empty(),
            "backend {} has no server",
            backend.name
        );
        slowest.push(servers.into_iter().max().unwrap());
    }
    assert_eq!(slowest.len(), count, "one check per backend");
    slowest.into_iter().max().unwrap()
}

/// What a replica of `binary` needs from the environment it is given: a drain longer than
/// `check`, and a kill no sooner than `grace` allows for the drain and the in-flight deadline.
fn assert_drains(
    where_: &str,
    environment: &BTreeMap<String, String>,
    check: Duration,
    grace: Duration,
) {
    let drain = environment
        .get("SHUTDOWN_DRAIN_MS")
        .unwrap_or_else(|| panic!("{where_} sets no SHUTDOWN_DRAIN_MS: it stops accepting while the gateway still sends to it"));
    let drain = Duration::from_millis(drain.parse().expect("SHUTDOWN_DRAIN_MS is a number"));
    assert!(
        drain > check,
        "{where_}: a drain of {drain:?} ends before the gateway's check ({check:?}) has seen it"
    );
    let deadline = environment
        .get("SHUTDOWN_TIMEOUT_SECS")
        .map_or(DEFAULT_SHUTDOWN_TIMEOUT, |secs| {
            Duration::from_secs(secs.parse().unwrap())
        });
    assert!(
        grace >= drain + deadline,
        "{where_}: killed after {grace:?}, before its drain ({drain:?}) and in-flight deadline ({deadline:?})"
    );
}

#[test]
fn compose_replicas_behind_the_gateway_drain_before_they_stop() {
    let check = slowest_health_check(&read(ROUTES), &read(COMPOSE_BACKENDS), 4);
    let services = resolved_compose()["services"].as_mapping().unwrap();
    let mut checked = 0;
    for (service, binary, environment) in compose_shop_environments() {
        if !BEHIND_THE_GATEWAY.contains(&binary) {
            continue;
        }
        let grace = services
            .get(service.as_str())
            .and_then(|definition| definition["stop_grace_period"].as_str())
            .map_or(Duration::from_secs(10), duration);
        assert_drains(
            &format!("compose service {service}"),
            &environment,
            check,
            grace,
        );
        checked += 1;
    }
    assert_eq!(checked, BEHIND_THE_GATEWAY.len());
}

#[test]
fn nomad_replicas_behind_the_gateway_drain_before_they_stop() {
    let check = slowest_health_check(&read(ROUTES), &nomad_backends_template(), 4);
    let mut checked = 0;
    for (binary, task) in nomad_shop_tasks() {
        if !BEHIND_THE_GATEWAY.contains(&binary.as_str()) {
            continue;
        }
        // Nomad's default kill timeout is 5 s.
        let grace =
            text(&task, "kill_timeout").map_or(Duration::from_secs(5), |value| duration(&value));
        assert_drains(
            &format!("nomad task {binary}"),
            &nomad_task_environment(&task),
            check,
            grace,
        );
        checked += 1;
    }
    assert_eq!(checked, BEHIND_THE_GATEWAY.len());
}

#[test]
fn durations_read_as_the_files_write_them() {
    assert_eq!(duration("20s"), Duration::from_secs(20));
    assert_eq!(duration("\"500ms\""), Duration::from_millis(500));
    assert_eq!(duration("1m"), Duration::from_secs(60));
    assert_eq!(haproxy_duration("2s"), Duration::from_secs(2));
    assert_eq!(haproxy_duration("1500"), Duration::from_millis(1500));
    assert_eq!(haproxy_duration("1h"), Duration::from_secs(3600));
    // Nomad and compose read a number without a unit as an error, and so does this.
    assert!(std::panic::catch_unwind(|| duration("20")).is_err());
    let routes =
        "defaults replicas\n    timeout check 2s\n    default-server check inter 1s fall 1\n";
    // The defaults alone: 1 s + 2 s.
    assert_eq!(
        slowest_health_check(routes, "backend a\n    server a 1.2.3.4:1\n", 1),
        Duration::from_secs(3)
    );
    // A server's own interval and fall count, a backend's own timeout.
    assert_eq!(
        slowest_health_check(
            routes,
            "backend a\n    server a 1.2.3.4:1 inter 5s\nbackend b\n    timeout check 500ms\n    server-template b 1-8 b:1 fall 3\n",
            2
        ),
        Duration::from_secs(7)
    );
}
