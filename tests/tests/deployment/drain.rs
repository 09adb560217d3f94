//! A replica behind the gateway stops without failing a request only if it keeps serving after
//! SIGTERM (readiness answering 503) until the gateway's health check has taken it out, and if
//! its orchestrator waits for that drain and the in-flight deadline before killing it. Both
//! numbers live in other files than the check they depend on, so they are checked together:
//! `SHUTDOWN_DRAIN_MS` above the check's interval plus timeout, and compose's
//! `stop_grace_period` and Nomad's `kill_timeout` at least the drain plus
//! `SHUTDOWN_TIMEOUT_SECS`.

use std::collections::BTreeMap;
use std::time::Duration;

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

/// A Go-style duration as the deployment files write them: `20s`, `500ms`, `1m`.
fn duration(text: &str) -> Duration {
    let text = text.trim().trim_matches('"');
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let number: u64 = number
        .parse()
        .unwrap_or_else(|_| panic!("a duration: {text:?}"));
    match unit {
        "ms" => Duration::from_millis(number),
        "s" => Duration::from_secs(number),
        "m" => Duration::from_secs(number * 60),
        other => panic!("unit {other:?} in {text:?}"),
    }
}

/// The longest interval plus timeout of the readiness checks a gateway configuration declares
/// (`healthCheck: { path: /health/ready, interval: 5s, timeout: 2s }`), one per backend.
fn slowest_health_check(configuration: &str, backends: usize) -> Duration {
    let checks: Vec<Duration> = configuration
        .lines()
        .filter_map(|line| line.split_once("healthCheck: {")?.1.split_once('}'))
        .map(|(fields, _)| {
            let field = |name: &str| {
                fields
                    .split(',')
                    .find_map(|part| part.trim().strip_prefix(name)?.strip_prefix(':'))
                    .map(duration)
                    .unwrap_or_else(|| panic!("a health check without {name}: {fields}"))
            };
            field("interval") + field("timeout")
        })
        .collect();
    assert_eq!(checks.len(), backends, "one check per backend");
    checks.into_iter().max().unwrap()
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
    let check = slowest_health_check(&read("gateway/traefik/compose-backends.yml"), 4);
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
    let check = slowest_health_check(&read("nomad/gateway.nomad.hcl"), 4);
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
    assert_eq!(
        slowest_health_check(
            "a: { healthCheck: { path: /health/ready, interval: 5s, timeout: 2s } }\n\
             b: { healthCheck: { path: /health/ready, interval: 10s, timeout: 500ms } }",
            2
        ),
        Duration::from_millis(10_500)
    );
}
