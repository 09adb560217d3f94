//! The gateway as compose and Nomad deploy it: the same Traefik release as the tests run, the
//! routes file written once and mounted unchanged, discovery the only difference, no Docker
//! socket in the gateway, and TLS on the public entry point with plain HTTP only redirecting.
//! (What the routes expose, and the local certificate, are tested live: `tests/cluster`.)

use serde_norway::Value;

use crate::support::{attribute, blocks, label, nomad_file, read, resolved_compose, text};

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
    for mounted in [
        "gateway/traefik/compose-backends.yml:/etc/traefik/dynamic/backends.yml",
        "gateway/traefik/tls.yml:/etc/traefik/dynamic/tls.yml",
    ] {
        assert!(
            volumes.iter().any(|volume| volume.contains(mounted)),
            "{mounted}: {volumes:?}"
        );
    }
    let command = strings(&gateway["command"]);
    assert!(command.contains(&"--providers.file.directory=/etc/traefik/dynamic".to_owned()));
    assert!(
        !command
            .iter()
            .any(|arg| arg.starts_with("--providers.docker")),
        "backends by DNS name, not through the Docker API: {command:?}"
    );
    assert_serves_tls_and_redirects_plain_http(&command, "compose");
    let secrets: Vec<&str> = gateway["secrets"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|secret| secret["source"].as_str().or(secret.as_str()))
        .collect();
    assert_eq!(secrets, ["gateway-tls-cert", "gateway-tls-key"]);
    let tls = read("gateway/traefik/tls.yml");
    assert!(
        tls.contains("certFile: /run/secrets/gateway-tls-cert"),
        "{tls}"
    );
    assert!(
        tls.contains("keyFile: /run/secrets/gateway-tls-key"),
        "{tls}"
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
    assert_eq!(published, [8443, 8080], "HTTPS, and HTTP redirecting to it");
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

/// The public entry point `web` is HTTPS on 8443; `web-redirect` (8080) only redirects to it.
fn assert_serves_tls_and_redirects_plain_http(args: &[String], whence: &str) {
    for expected in [
        "--entrypoints.web.address=:8443",
        "--entrypoints.web.http.tls=true",
        "--entrypoints.web-redirect.address=:8080",
        "--entrypoints.web-redirect.http.redirections.entrypoint.to=web",
        "--entrypoints.web-redirect.http.redirections.entrypoint.scheme=https",
    ] {
        assert!(
            args.iter().any(|arg| arg == expected),
            "{whence}: {expected} missing from {args:?}"
        );
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
    let traefik = blocks(&file, "job")
        .into_iter()
        .flat_map(|job| blocks(job.body(), "group"))
        .flat_map(|group| blocks(group.body(), "task"))
        .find(|task| label(task) == "traefik")
        .expect("a traefik task");
    let args: Vec<String> = match attribute(blocks(traefik.body(), "config")[0].body(), "args") {
        Some(hcl::Expression::Array(items)) => items
            .iter()
            .filter_map(|item| match item {
                hcl::Expression::String(arg) => Some(arg.clone()),
                _ => None,
            })
            .collect(),
        other => panic!("traefik args: {other:?}"),
    };
    assert_serves_tls_and_redirects_plain_http(&args, "nomad");
    assert!(source.contains(r#"destination = "secrets/gateway-tls-cert""#));
    assert!(source.contains(r#"destination = "secrets/gateway-tls-key""#));
    assert!(source.contains(r#"file("gateway/traefik/tls.yml")"#));
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
        // ...and a catch-all (the storefront's: `/`, or no path of its own) must exclude the
        // operational routes.
        let names_a_path = rule.replace("!Path", "").contains("Path");
        if rule.contains("PathPrefix(`/`)") || !names_a_path {
            for hidden in ["/internal", "/metrics", "/health"] {
                assert!(
                    rule.contains(&format!("!PathPrefix(`{hidden}`)")),
                    "catch-all without excluding {hidden}: {rule}"
                );
            }
        }
    }
}
