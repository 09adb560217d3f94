//! The gateway as compose and Nomad deploy it: the same Traefik release as the tests run, the
//! routes file written once and mounted unchanged, discovery the only difference, and no
//! Docker socket in the gateway. (What the routes expose is tested live: `tests/cluster`.)

use serde_norway::Value;

use crate::support::{blocks, label, nomad_file, read, resolved_compose, text};

fn gateway_service() -> &'static Value {
    &resolved_compose()["services"]["gateway"]
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|item| item.as_str().map(str::to_owned))
        .collect()
}

#[test]
fn compose_runs_the_pinned_traefik_with_the_shared_routes_and_no_docker_socket() {
    let gateway = gateway_service();
    assert_eq!(
        gateway["image"].as_str(),
        Some(format!("traefik:v{}", ::gateway::TRAEFIK_VERSION).as_str()),
        "compose pins the Traefik release the tests run"
    );
    let volumes: Vec<String> = gateway["volumes"]
        .as_sequence()
        .into_iter()
        .flatten()
        // docker-compose prints a volume as `source:target:mode` or as a mapping.
        .map(|volume| match volume.as_str() {
            Some(short) => short.to_owned(),
            None => format!(
                "{}:{}",
                volume["source"].as_str().unwrap_or_default(),
                volume["target"].as_str().unwrap_or_default()
            ),
        })
        .collect();
    assert!(
        volumes
            .iter()
            .any(|volume| volume
                .contains("gateway/traefik/routes.yml:/etc/traefik/dynamic/routes.yml")),
        "the gateway mounts the shared routes: {volumes:?}"
    );
    assert!(
        volumes.iter().all(|volume| !volume.contains("docker.sock")),
        "no Docker socket in the gateway: {volumes:?}"
    );
    let command = strings(&gateway["command"]);
    assert!(command.contains(&"--providers.file.directory=/etc/traefik/dynamic".to_owned()));
    assert!(
        command
            .iter()
            .any(|arg| arg.starts_with("--providers.docker.endpoint=tcp://")),
        "discovery through the read-only API proxy: {command:?}"
    );
    assert!(
        command
            .iter()
            .any(|arg| arg == "--providers.docker.defaultRule=ClientIP(`0.0.0.0/32`)"),
        "labelled backends get no default router: {command:?}"
    );
    assert_eq!(
        gateway["environment"]["SHOP_BACKEND_PROVIDER"].as_str(),
        Some("docker"),
        "the routes point at the Docker-discovered services"
    );
    let published: Vec<u64> = gateway["ports"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|port| {
            port["published"]
                .as_str()
                .and_then(|p| p.parse().ok())
                .or_else(|| port["published"].as_u64())
        })
        .collect();
    assert_eq!(published, [8080], "one public entry point");
    // No other service defines a router: routing lives in the routes file only.
    for (name, service) in resolved_compose()["services"]
        .as_mapping()
        .expect("services")
    {
        let labels = service["labels"].as_mapping().into_iter().flatten();
        for (label, _) in labels {
            let label = label.as_str().unwrap_or_default();
            assert!(
                !label.starts_with("traefik.http.routers."),
                "{name:?} defines a router: {label}"
            );
        }
    }
}

#[test]
fn nomad_runs_the_pinned_traefik_with_the_shared_routes_and_native_discovery() {
    let file = nomad_file("gateway.nomad.hcl");
    let version = blocks(&file, "variable")
        .into_iter()
        .find(|variable| label(variable) == "traefik_version")
        .expect("a traefik_version variable");
    assert_eq!(
        text(version.body(), "default"),
        Some(format!("v{}", ::gateway::TRAEFIK_VERSION))
    );
    // `file(...)` is a function call the HCL parser keeps as written: check the source.
    let source = read("nomad/gateway.nomad.hcl");
    assert!(source.contains(r#"data            = file("gateway/traefik/routes.yml")"#));
    assert!(
        source.contains(r#"left_delimiter  = "[[""#),
        "Nomad leaves Traefik's template actions alone"
    );
    // The shop job's groups come from one `dynamic` block: look at them expanded.
    let shop = nomad_file("shop.nomad.hcl");
    let registered: Vec<String> = blocks(&shop, "job")
        .into_iter()
        .flat_map(|job| blocks(job.body(), "group"))
        .flat_map(|group| blocks(group.body(), "service"))
        .filter_map(|service| text(service.body(), "name"))
        .collect();
    for service in ["user-service", "product-service", "order-service"] {
        assert!(
            source.contains(&format!("nomadService \"{service}\"")),
            "backends of {service}"
        );
        assert!(
            registered.iter().any(|name| name == service),
            "{service} is registered"
        );
    }
    for service in ["notification-service", "event-bridge"] {
        assert!(
            !source.contains(service),
            "{service} must not be behind the gateway"
        );
    }
    // The services that see clients through the gateway: user, product, order, storefront.
    assert_eq!(
        read("nomad/shop.nomad.hcl")
            .matches(r#"TRUSTED_PROXIES={{ range nomadService "gateway" }}"#)
            .count(),
        4
    );
}

#[test]
fn the_routes_file_names_only_the_public_services() {
    let routes = read("gateway/traefik/routes.yml");
    let services: Vec<&str> = routes
        .lines()
        .filter_map(|line| line.trim().strip_prefix("service: \""))
        .collect();
    assert!(!services.is_empty());
    for service in services {
        let name = service.split('@').next().unwrap_or_default();
        assert!(
            matches!(name, "user" | "product" | "order" | "storefront"),
            "routed service {service}"
        );
    }
    let rules: Vec<&str> = routes
        .lines()
        .filter(|line| line.trim_start().starts_with("rule:"))
        .collect();
    assert!(!rules.is_empty());
    for rule in &rules {
        // A hidden path may appear in a rule only as an exclusion...
        for hidden in ["/internal", "/metrics", "/health", "/validate-token"] {
            let mentioned = rule.matches(&format!("(`{hidden}")).count();
            let excluded = rule.matches(&format!("!PathPrefix(`{hidden}")).count()
                + rule.matches(&format!("!Path(`{hidden}")).count();
            assert_eq!(mentioned, excluded, "{hidden} is routed by {rule}");
        }
        // ...and a catch-all (the storefront's) must exclude the operational routes.
        if rule.contains("PathPrefix(`/`)") || rule.contains("HeaderRegexp") {
            for hidden in ["/internal", "/metrics", "/health"] {
                assert!(
                    rule.contains(&format!("!PathPrefix(`{hidden}`)")),
                    "catch-all without excluding {hidden}: {rule}"
                );
            }
        }
    }
}
