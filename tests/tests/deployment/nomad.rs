//! Nomad job files, parsed as HCL2 (hcl-rs) and checked for what Nomad needs to run, discover,
//! check, update and roll back the services.

use std::collections::BTreeSet;

use hcl::Expression;

use crate::support::{
    VERSION, attribute, blocks, image_ports, label, nomad_file, shop_binary, text,
    workspace_binaries,
};

fn number(body: &hcl::Body, key: &str) -> Option<i64> {
    match attribute(body, key)? {
        Expression::Number(number) => number.as_i64(),
        _ => None,
    }
}

fn service_names(body: &hcl::Body) -> Vec<String> {
    blocks(body, "service")
        .into_iter()
        .filter_map(|service| text(service.body(), "name"))
        .collect()
}

#[test]
fn the_services_job_runs_every_binary_discoverably_with_checks_and_rollback() {
    let file = nomad_file("shop.nomad.hcl");
    let version = blocks(&file, "variable")
        .into_iter()
        .find(|variable| label(variable) == "version")
        .expect("a version variable");
    assert_eq!(
        text(version.body(), "default").as_deref(),
        Some(VERSION),
        "the default image tag is the workspace version"
    );
    let jobs = blocks(&file, "job");
    assert_eq!(jobs.len(), 1);
    let job = jobs[0].body();
    assert_eq!(text(job, "type").as_deref(), Some("service"));

    let update = &blocks(job, "update")[0];
    assert_eq!(
        attribute(update.body(), "auto_revert"),
        Some(&Expression::Bool(true)),
        "a failed deployment rolls back"
    );
    for key in ["max_parallel", "min_healthy_time", "healthy_deadline"] {
        assert!(attribute(update.body(), key).is_some(), "update.{key}");
    }

    let mut binaries = BTreeSet::new();
    for group in blocks(job, "group") {
        let group_name = label(group);
        let count = number(group.body(), "count").unwrap_or(1);
        let services = blocks(group.body(), "service");
        assert_eq!(services.len(), 1, "group {group_name}: one service");
        let service = services[0].body();
        assert_eq!(
            text(service, "provider").as_deref(),
            Some("nomad"),
            "{group_name}: native discovery"
        );
        let checks = blocks(service, "check");
        let paths: Vec<String> = checks
            .iter()
            .filter_map(|check| text(check.body(), "path"))
            .collect();
        assert!(
            paths.contains(&"/health/ready".to_owned())
                && paths.contains(&"/health/live".to_owned()),
            "{group_name}: readiness and liveness checks, got {paths:?}"
        );
        assert!(
            checks
                .iter()
                .any(|check| !blocks(check.body(), "check_restart").is_empty()),
            "{group_name}: a failing liveness check restarts the task"
        );
        assert_eq!(
            blocks(group.body(), "network").len(),
            1,
            "{group_name}: a port"
        );

        let tasks = blocks(group.body(), "task");
        assert_eq!(tasks.len(), 1, "{group_name}: one task");
        let task = tasks[0].body();
        assert_eq!(text(task, "driver").as_deref(), Some("docker"));
        let image = text(blocks(task, "config")[0].body(), "image").unwrap();
        let (binary, tag) = shop_binary(&image).expect("a shop image");
        assert_eq!(tag, "${var.version}");
        assert_eq!(
            service_names(group.body()),
            [binary.to_owned()],
            "{group_name}: registered under the binary's name"
        );
        binaries.insert(binary.to_owned());

        let resources = &blocks(task, "resources")[0];
        assert!(
            number(resources.body(), "cpu").is_some()
                && number(resources.body(), "memory").is_some()
        );
        // Dependencies' addresses come from Nomad's catalogue, not from fixed hosts.
        let templates = blocks(task, "template");
        assert!(
            templates.iter().any(|template| {
                text(template.body(), "data").is_some_and(|data| data.contains("nomadService"))
            }),
            "{group_name}: a template renders dependencies' addresses with nomadService"
        );
        if binary == "notification-service" {
            assert!(count >= 2, "at least two notification workers, got {count}");
        }
    }
    let expected: BTreeSet<String> = workspace_binaries().into_iter().collect();
    assert_eq!(binaries, expected, "every binary runs under Nomad");
}

#[test]
fn the_infrastructure_job_registers_what_the_services_look_up() {
    let services_file = nomad_file("shop.nomad.hcl");
    let infrastructure = nomad_file("infrastructure.nomad.hcl");
    let job = blocks(&infrastructure, "job")[0].body();
    let mut registered = BTreeSet::new();
    for group in blocks(job, "group") {
        for task in blocks(group.body(), "task") {
            assert!(
                !blocks(task.body(), "resources").is_empty(),
                "{}: resources",
                label(task)
            );
            for service in blocks(task.body(), "service") {
                assert_eq!(text(service.body(), "provider").as_deref(), Some("nomad"));
                registered.insert(text(service.body(), "name").unwrap());
            }
        }
    }
    for name in [
        "users-db",
        "products-db",
        "orders-db",
        "redis",
        "rabbitmq",
        "nats",
        "jaeger-otlp",
        "prometheus",
        "loki",
        "grafana",
        "redis-exporter",
    ] {
        assert!(
            registered.contains(name),
            "{name} is registered: {registered:?}"
        );
    }
    // Every nomadService lookup of the services job names a service one of the jobs registers.
    let gateway_file = nomad_file("gateway.nomad.hcl");
    let own: Vec<String> = [&services_file, &gateway_file]
        .into_iter()
        .flat_map(|file| blocks(blocks(file, "job")[0].body(), "group"))
        .flat_map(|group| service_names(group.body()))
        .collect();
    let text = crate::support::read("nomad/shop.nomad.hcl");
    let lookups: Vec<&str> = text
        .split("{{")
        .skip(1)
        .filter_map(|rest| rest.split("}}").next())
        .filter(|action| action.contains("nomadService"))
        // The service name is the action's last quoted string.
        .filter_map(|action| action.rsplit('"').nth(1))
        .collect();
    assert!(lookups.len() >= 10, "{lookups:?}");
    for looked_up in lookups {
        assert!(
            registered.contains(looked_up) || own.iter().any(|service| service == looked_up),
            "nomadService {looked_up:?} is registered by no job"
        );
    }
}

#[test]
fn the_service_groups_are_written_once_and_expand_to_one_per_binary() {
    let raw = hcl::parse(&crate::support::read("nomad/shop.nomad.hcl")).unwrap();
    let raw_job = blocks(&raw, "job")[0].body();
    assert!(
        blocks(raw_job, "group").is_empty(),
        "groups come from the one dynamic block, not copies"
    );
    assert_eq!(blocks(raw_job, "dynamic").len(), 1);

    let file = nomad_file("shop.nomad.hcl");
    let ports = image_ports();
    let mut seen = Vec::new();
    for group in blocks(blocks(&file, "job")[0].body(), "group") {
        let task = blocks(group.body(), "task")[0];
        let image = text(blocks(task.body(), "config")[0].body(), "image").unwrap();
        let (binary, _) = shop_binary(&image).unwrap();
        assert_eq!(label(task), binary, "the task is named after its binary");
        let port = &blocks(blocks(group.body(), "network")[0].body(), "port")[0];
        assert_eq!(label(port), "http");
        assert_eq!(
            number(port.body(), "to").and_then(|to| u16::try_from(to).ok()),
            ports.get(binary).copied(),
            "{binary} listens on its documented port"
        );
        let environment = crate::support::nomad_task_environment(task.body());
        // The shared env block and the service's own rendered template both reach the task.
        for key in ["LOG_FORMAT", "OTEL_EXPORTER_OTLP_ENDPOINT"] {
            assert!(environment.contains_key(key), "{binary}: {key}");
        }
        seen.push(label(group).to_owned());
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            "bridge",
            "notification",
            "order",
            "product",
            "storefront",
            "user"
        ],
        "one group per binary, named as before"
    );
}
