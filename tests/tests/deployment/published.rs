//! Only the gateway is published: under Nomad every other port is mapped on the nodes'
//! `private` or `loopback` host network (a port without `host_network` is mapped on the node's
//! default, public, address), and no task but the gateway shares the host's network stack
//! (which would put every listening socket on every address, whatever the port blocks say).
//! Under compose only the gateway publishes on every address; the operator UIs on loopback.

use crate::support::{attribute, blocks, label, nomad_file, resolved_compose, text};

const NOMAD_JOBS: [&str; 3] = [
    "infrastructure.nomad.hcl",
    "shop.nomad.hcl",
    "gateway.nomad.hcl",
];

/// The gateway's public entry points: HTTPS, and plain HTTP that only redirects.
const GATEWAY_PUBLIC: [&str; 2] = ["web", "web-redirect"];

/// Every port of every group, `dynamic` blocks expanded: (job, group, port, its host network).
fn nomad_ports() -> Vec<(String, String, String, Option<String>)> {
    let mut ports = Vec::new();
    for file in NOMAD_JOBS {
        let body = nomad_file(file);
        for job in blocks(&body, "job") {
            for group in blocks(job.body(), "group") {
                for network in blocks(group.body(), "network") {
                    for port in blocks(network.body(), "port") {
                        ports.push((
                            label(job).to_owned(),
                            label(group).to_owned(),
                            label(port).to_owned(),
                            text(port.body(), "host_network"),
                        ));
                    }
                }
            }
        }
    }
    ports
}

#[test]
fn nomad_publishes_only_the_gateway_on_the_public_address() {
    let ports = nomad_ports();
    // The six service groups, the brokers, the databases, observability, the gateway.
    assert!(ports.len() >= 25, "every port is seen: {}", ports.len());
    let mut public = Vec::new();
    for (job, group, port, host_network) in &ports {
        match host_network.as_deref() {
            Some("private" | "loopback") => {}
            None => public.push(format!("{job}/{group}/{port}")),
            Some(other) => panic!("{job}/{group}/{port}: unknown host network {other}"),
        }
    }
    let expected: Vec<String> = GATEWAY_PUBLIC
        .iter()
        .map(|port| format!("shop-gateway/gateway/{port}"))
        .collect();
    assert_eq!(public, expected, "published on the node's public address");
    // The service ports Prometheus scrapes and the gateway routes to are on the private
    // network, not on loopback: both reach them from other nodes.
    for service in [
        "user",
        "product",
        "order",
        "notification",
        "bridge",
        "storefront",
    ] {
        assert!(
            ports.iter().any(|(job, group, port, network)| job == "shop"
                && group == service
                && port == "http"
                && network.as_deref() == Some("private")),
            "{service}'s port on the private network: {ports:?}"
        );
    }
    let nats_monitor = ports
        .iter()
        .find(|(_, _, port, _)| port == "nats-monitor")
        .expect("the NATS monitor port");
    assert_eq!(nats_monitor.3.as_deref(), Some("loopback"));
}

#[test]
fn no_nomad_task_but_the_gateway_shares_the_hosts_network() {
    for file in NOMAD_JOBS {
        let body = nomad_file(file);
        for job in blocks(&body, "job") {
            for group in blocks(job.body(), "group") {
                if label(group) == "gateway" {
                    continue;
                }
                // (A group network's `mode = "host"` is Nomad's default and maps each port on
                // its host network; Docker's `network_mode = "host"` maps nothing.)
                for task in blocks(group.body(), "task") {
                    let config = blocks(task.body(), "config")[0].body();
                    assert_ne!(
                        text(config, "network_mode").as_deref(),
                        Some("host"),
                        "{file} {}: the host's network stack",
                        label(task)
                    );
                    assert!(
                        attribute(config, "port_map").is_none(),
                        "{file} {}: ports come from the group's network",
                        label(task)
                    );
                }
            }
        }
    }
}

#[test]
fn compose_publishes_only_the_gateway_and_the_uis_on_loopback() {
    let mut publishing = Vec::new();
    for (name, service) in resolved_compose()["services"].as_mapping().unwrap() {
        let name = name.as_str().unwrap();
        let ports = service["ports"].as_sequence().cloned().unwrap_or_default();
        if ports.is_empty() {
            continue;
        }
        publishing.push(name);
        if name == "gateway" {
            continue;
        }
        for port in ports {
            let host_ip = match port.as_str() {
                // `host_ip:published:target`; two parts mean every address.
                Some(short) if short.split(':').count() == 3 => short.split(':').next(),
                Some(_) => None,
                None => port["host_ip"].as_str(),
            };
            assert_eq!(host_ip, Some("127.0.0.1"), "compose {name}: {port:?}");
        }
    }
    publishing.sort_unstable();
    assert_eq!(
        publishing,
        ["gateway", "grafana", "jaeger", "prometheus", "rabbitmq"],
        "only the gateway and the operator UIs publish a port"
    );
}
