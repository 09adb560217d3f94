//! `compose.yaml`: schema validation by `docker-compose config` (no engine needed), then the
//! checks the schema cannot make, on the file as Compose resolves it.

use std::collections::BTreeSet;

use serde_norway::{Mapping, Value};

use crate::haproxy::{COMPOSE_BACKENDS, ROUTES, sections};
use crate::support::{
    VERSION, image_ports, read, repo_root, resolved_compose, shop_binary, workspace_binaries,
};

fn services(compose: &Value) -> &Mapping {
    compose["services"]
        .as_mapping()
        .expect("compose.yaml has services")
}

fn name(key: &Value) -> &str {
    key.as_str().expect("names are strings")
}

fn keys(value: &Value) -> BTreeSet<String> {
    value
        .as_mapping()
        .map(|mapping| mapping.keys().map(|key| name(key).to_owned()).collect())
        .unwrap_or_default()
}

#[test]
fn compose_file_validates_offline() {
    // `config -q` exits non-zero on unknown keys, bad `depends_on` targets, undeclared volumes
    // and a required variable `.env.example` does not set.
    let compose = resolved_compose();
    assert!(services(compose).len() >= 17, "the whole system is there");
}

#[test]
fn every_binary_runs_as_a_compose_service_with_its_image() {
    let compose = resolved_compose();
    let mut images = BTreeSet::new();
    for (service, definition) in services(compose) {
        let image = definition["image"].as_str().unwrap_or_default();
        if let Some((binary, tag)) = shop_binary(image) {
            assert_eq!(
                tag,
                VERSION,
                "{}: images are tagged with the workspace version",
                name(service)
            );
            images.insert(binary.to_owned());
        }
    }
    let binaries: BTreeSet<String> = workspace_binaries().into_iter().collect();
    assert_eq!(images, binaries, "one compose service per binary");
}

#[test]
fn the_infrastructure_of_the_spec_is_there() {
    let compose = resolved_compose();
    let images: Vec<&str> = services(compose)
        .values()
        .filter_map(|definition| definition["image"].as_str())
        .collect();
    let count = |prefix: &str| {
        images
            .iter()
            .filter(|image| image.starts_with(prefix))
            .count()
    };
    assert_eq!(count("postgres:"), 3, "a database per service");
    for prefix in [
        "redis:",
        "rabbitmq:",
        "nats:",
        "prom/prometheus:",
        "grafana/loki:",
        "grafana/promtail:",
        "grafana/grafana:",
        "jaegertracing/all-in-one:",
        "oliver006/redis_exporter:",
    ] {
        assert_eq!(count(prefix), 1, "{prefix} runs once: {images:?}");
    }
    let rabbitmq = services(compose)
        .values()
        .find(|definition| {
            definition["image"]
                .as_str()
                .is_some_and(|image| image.starts_with("rabbitmq:"))
        })
        .unwrap();
    assert!(rabbitmq["image"].as_str().unwrap().contains("management"));
    let command = serde_json::to_string(&rabbitmq["command"].as_sequence().unwrap()).unwrap();
    assert!(command.contains("rabbitmq_prometheus"), "{command}");
    let nats = services(compose).get("nats").unwrap();
    assert!(
        serde_json::to_string(&nats["command"].as_sequence().unwrap())
            .unwrap()
            .contains("--jetstream")
    );
}

#[test]
fn application_services_scale_and_are_watched() {
    let compose = resolved_compose();
    let backends = read(COMPOSE_BACKENDS);
    // The gateway probes every replica's readiness: the replicas' defaults in routes.cfg turn
    // the check on for every server, and no compose server turns it off.
    let routes = read(ROUTES);
    let replicas = sections(&routes)
        .into_iter()
        .find(|section| section.kind == "defaults" && section.name == "replicas")
        .expect("routes.cfg has the replicas' defaults");
    assert!(
        replicas
            .lines
            .contains(&"option httpchk GET /health/ready".to_owned())
    );
    assert!(
        replicas
            .lines
            .iter()
            .any(|line| line.starts_with("default-server ")
                && line.split_whitespace().any(|word| word == "check")),
        "{:?}",
        replicas.lines
    );
    assert!(!backends.contains("no-check"), "{backends}");
    // Every replica of a scaled service, found through Docker's DNS server.
    let docker_dns = sections(&backends)
        .into_iter()
        .find(|section| section.kind == "resolvers" && section.name == "docker")
        .expect("a `docker` resolvers section");
    assert!(
        docker_dns
            .lines
            .iter()
            .any(|line| line.starts_with("nameserver ") && line.ends_with(" 127.0.0.11:53")),
        "{:?}",
        docker_dns.lines
    );
    assert!(
        read("nix/images.nix").contains("contents = [ pkgs.cacert bin ];"),
        "the images link the binary at /bin/<name> for the healthcheck"
    );
    for (service, definition) in services(compose) {
        let service = name(service);
        let Some(_) = definition["image"].as_str().and_then(shop_binary) else {
            continue;
        };
        // `--scale` needs neither a fixed container name nor a fixed host port.
        assert!(
            definition.get("container_name").is_none(),
            "{service} has a container_name"
        );
        assert!(
            definition.get("ports").is_none(),
            "{service} publishes a host port: replicas would collide (the gateway publishes)"
        );
        assert_eq!(definition["restart"].as_str(), Some("unless-stopped"));
        assert_eq!(
            definition["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"].as_str(),
            Some("http://jaeger:4318"),
            "{service} exports traces to Jaeger"
        );
        let (binary, _) = shop_binary(definition["image"].as_str().unwrap()).unwrap();
        let port = image_ports()[binary].to_string();
        // Only the public API and the shop are behind the gateway, by their compose DNS names
        // (gateway/haproxy/compose-backends.cfg), a slot for each of up to several replicas;
        // notification and the bridge are not.
        let address = format!(" {service}:{port} ");
        let slots: Vec<&str> = backends
            .lines()
            .map(str::trim)
            .filter(|line| line.starts_with("server-template ") && line.contains(&address))
            .collect();
        if matches!(
            binary,
            "user-service" | "product-service" | "order-service" | "storefront"
        ) {
            assert_eq!(
                slots.len(),
                1,
                "{service:?}: the gateway forwards to the image's port ({address})"
            );
            let line = slots[0];
            let count = line.split_whitespace().nth(2).unwrap_or_default();
            assert!(
                count
                    .split_once('-')
                    .is_some_and(|(_, last)| last.parse::<u32>().is_ok_and(|last| last >= 4)),
                "{service:?}: room for scaled replicas: {line}"
            );
            assert!(
                line.contains(" resolvers docker") && line.contains(" init-addr none"),
                "{service:?}: found through Docker's DNS, and the gateway starts before it: {line}"
            );
        } else {
            assert!(
                !backends.contains(&format!(" {service}:")),
                "{service:?} has no public API and must not be behind the gateway"
            );
        }
        // The images have no shell: the binary probes itself (`/bin/<binary> healthcheck`,
        // linked there by nix/images.nix), and the gateway probes readiness as well.
        let probe: Vec<&str> = definition["healthcheck"]["test"]
            .as_sequence()
            .unwrap_or_else(|| panic!("{service} has no healthcheck"))
            .iter()
            .map(|part| part.as_str().unwrap())
            .collect();
        assert_eq!(
            probe,
            ["CMD", &format!("/bin/{binary}"), "healthcheck"],
            "{service}"
        );
        let networks = keys(&definition["networks"]);
        assert!(
            networks.contains("default") && networks.contains("monitoring"),
            "{service} talks to its dependencies and is scraped: {networks:?}"
        );
    }
}

#[test]
fn start_order_waits_for_healthy_dependencies() {
    let compose = resolved_compose();
    let all = services(compose);
    for (service, definition) in all {
        for (dependency, condition) in definition["depends_on"].as_mapping().into_iter().flatten() {
            let dependency_definition = all
                .get(dependency)
                .unwrap_or_else(|| panic!("{}: unknown dependency", name(service)));
            let condition = condition["condition"].as_str().unwrap_or_default();
            let has_healthcheck = dependency_definition.get("healthcheck").is_some();
            match condition {
                // `docker-compose config` accepts this on a service without a healthcheck;
                // Docker would then never start the dependent.
                "service_healthy" => assert!(
                    has_healthcheck,
                    "{} waits for {} to be healthy, which has no healthcheck",
                    name(service),
                    name(dependency)
                ),
                "service_started" => assert!(
                    !has_healthcheck,
                    "{} should wait for {} to be healthy: it has a healthcheck",
                    name(service),
                    name(dependency)
                ),
                other => panic!("{}: condition {other:?}", name(service)),
            }
        }
    }
}

#[test]
fn networks_volumes_and_mounted_files_are_declared() {
    let compose = resolved_compose();
    let declared_networks = keys(&compose["networks"]);
    let declared_volumes = keys(&compose["volumes"]);
    assert!(declared_networks.contains("default") && declared_networks.contains("monitoring"));
    let mut used_volumes = BTreeSet::new();
    for (service, definition) in services(compose) {
        for network in keys(&definition["networks"]) {
            assert!(
                declared_networks.contains(&network),
                "{}: network {network} is not declared",
                name(service)
            );
        }
        for volume in definition["volumes"].as_sequence().into_iter().flatten() {
            // Resolved volumes are `source:target[:mode]` or `{type, source, target}`.
            let source = match volume {
                Value::String(short) => short.split(':').next().unwrap().to_owned(),
                long => long["source"].as_str().unwrap_or_default().to_owned(),
            };
            // Promtail reads the host's container logs (read-only); everything else mounted
            // from the host is a file of this repository.
            if source.starts_with('/') && source != "/var/lib/docker/containers" {
                let relative = source
                    .strip_prefix(&format!("{}/", repo_root().display()))
                    .unwrap_or_else(|| {
                        panic!(
                            "{}: host path {source} outside the repository",
                            name(service)
                        )
                    });
                assert!(
                    repo_root().join(relative).exists(),
                    "{}: mounts {relative}, which does not exist",
                    name(service)
                );
            } else if !source.starts_with('/') {
                used_volumes.insert(source.clone());
                assert!(
                    declared_volumes.contains(&source),
                    "{}: volume {source} is not declared",
                    name(service)
                );
            }
        }
    }
    for volume in [
        "users-db-data",
        "products-db-data",
        "orders-db-data",
        "prometheus-data",
        "loki-data",
        "grafana-data",
    ] {
        assert!(used_volumes.contains(volume), "{volume} persists data");
    }
}

#[test]
fn env_example_marks_its_secrets_as_development_only() {
    let example = read(".env.example");
    assert!(example.contains("DEVELOPMENT-ONLY SECRETS"));
    for line in example.lines().filter(|line| !line.starts_with('#')) {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if ["PASSWORD", "SECRET", "TOKEN"]
            .iter()
            .any(|word| key.contains(word))
        {
            assert!(
                value.starts_with("dev-only-"),
                "{key}: a published value must say it is for development only"
            );
        }
    }
}
