//! The gateway as compose and Nomad deploy it: the same HAProxy release as the tests run, the
//! routes file written once and given unchanged, discovery the only difference, no Docker
//! socket in the gateway, and TLS on the public entry point with plain HTTP only redirecting.
//! (What the routes do with requests is played through a real HAProxy: [`crate::gateway_routes`].)

use std::collections::BTreeMap;

use serde_norway::Value;

use crate::haproxy::{
    COMPOSE_BACKENDS, PUBLIC_BACKENDS, ROUTES, local_version, nomad_backends_template, sections,
};
use crate::support::{
    attribute, blocks, label, nomad_env_block, nomad_file, read, resolved_compose, text,
};

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

/// The release compose pins, from `haproxy:<release>-alpine`.
fn compose_release() -> String {
    let image = gateway_service()["image"].as_str().expect("an image");
    image
        .strip_prefix("haproxy:")
        .and_then(|tag| tag.strip_suffix("-alpine"))
        .unwrap_or_else(|| panic!("the official HAProxy Alpine image: {image}"))
        .to_owned()
}

/// The tests play the routes through the local HAProxy: the deployed one must read them the
/// same way, so it is the same release branch (the configuration language changes between
/// branches, not within one).
fn assert_same_branch_as_the_tests(release: &str, whence: &str) {
    let branch = |version: &str| version.split('.').take(2).collect::<Vec<_>>().join(".");
    let local = local_version();
    assert_eq!(
        branch(release),
        branch(&local),
        "{whence} pins HAProxy {release}; the tests run {local}"
    );
    assert_eq!(
        release.split('.').count(),
        3,
        "{whence} pins a release: {release}"
    );
}

/// The ports of `:8443`, `127.0.0.1:8081`…
fn port(bind: &str) -> u16 {
    bind.rsplit(':')
        .next()
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("a port in {bind:?}"))
}

#[test]
fn compose_runs_the_pinned_haproxy_with_the_shared_routes_and_no_docker_socket() {
    let gateway = gateway_service();
    assert_same_branch_as_the_tests(&compose_release(), "compose");
    assert_eq!(
        compose_release(),
        gateway::HAPROXY_VERSION,
        "compose pins the release the gateway crate names"
    );

    // docker-compose prints a volume as `source:target:mode`.
    let volumes: BTreeMap<String, (String, String)> = strings(&gateway["volumes"])
        .iter()
        .map(|volume| {
            let parts: Vec<&str> = volume.split(':').collect();
            (
                parts[1].to_owned(),
                (
                    parts[0].to_owned(),
                    parts.get(2).copied().unwrap_or("rw").to_owned(),
                ),
            )
        })
        .collect();
    assert!(
        volumes.keys().all(|target| !target.contains("docker.sock"))
            && volumes
                .values()
                .all(|(source, _)| !source.contains("docker.sock")),
        "no Docker socket in the gateway: {volumes:?}"
    );
    // The command reads the routes first, the compose backends second, both mounted read-only
    // from the repository.
    let command = strings(&gateway["command"]);
    let files: Vec<&String> = command
        .iter()
        .zip(command.iter().skip(1))
        .filter(|(flag, _)| *flag == "-f")
        .map(|(_, file)| file)
        .collect();
    assert_eq!(
        command.first().map(String::as_str),
        Some("haproxy"),
        "{command:?}"
    );
    assert_eq!(files.len(), 2, "routes and backends: {command:?}");
    for (file, source) in files.iter().zip([ROUTES, COMPOSE_BACKENDS]) {
        let (mounted, mode) = volumes
            .get(file.as_str())
            .unwrap_or_else(|| panic!("{file} is not mounted: {volumes:?}"));
        assert!(
            mounted.ends_with(&format!("/{source}")),
            "{file} is {mounted}, not {source}"
        );
        assert_eq!(mode, "ro", "{file} is mounted read-only");
    }

    // TLS: the certificate where GATEWAY_CERT says, its key where HAProxy looks for it.
    let environment = &gateway["environment"];
    let variable = |name: &str| {
        environment[name]
            .as_str()
            .unwrap_or_else(|| panic!("the gateway's {name}: {environment:?}"))
            .to_owned()
    };
    let secrets: BTreeMap<String, String> = gateway["secrets"]
        .as_sequence()
        .into_iter()
        .flatten()
        .map(|secret| {
            let target = secret["target"].as_str().expect("a secret's target");
            let target = if target.starts_with('/') {
                target.to_owned()
            } else {
                format!("/run/secrets/{target}")
            };
            (
                secret["source"]
                    .as_str()
                    .expect("a secret's source")
                    .to_owned(),
                target,
            )
        })
        .collect();
    let cert = variable("GATEWAY_CERT");
    assert_eq!(secrets.get("gateway-tls-cert"), Some(&cert), "{secrets:?}");
    assert_eq!(
        secrets.get("gateway-tls-key"),
        Some(&format!("{cert}.key")),
        "HAProxy finds the key beside the certificate: {secrets:?}"
    );

    // HTTPS and the redirecting HTTP entry point are published; the admin one is not, and the
    // redirect names the port clients reach HTTPS at.
    let published: BTreeMap<u64, u64> = gateway["ports"]
        .as_sequence()
        .into_iter()
        .flatten()
        .map(|port| {
            let number = |value: &Value| {
                value
                    .as_u64()
                    .or_else(|| value.as_str().and_then(|text| text.parse().ok()))
                    .expect("a port number")
            };
            (number(&port["target"]), number(&port["published"]))
        })
        .collect();
    let web = u64::from(port(&variable("GATEWAY_WEB_BIND")));
    let redirect = u64::from(port(&variable("GATEWAY_REDIRECT_BIND")));
    let admin = u64::from(port(&variable("GATEWAY_ADMIN_BIND")));
    assert_eq!(
        published,
        BTreeMap::from([(web, 8443), (redirect, 8080)]),
        "HTTPS, and HTTP redirecting to it; nothing else"
    );
    assert_eq!(
        variable("GATEWAY_HTTPS_PORT").parse::<u64>().ok(),
        published.get(&web).copied(),
        "the redirect names the published HTTPS port"
    );
    let probe = strings(&gateway["healthcheck"]["test"]).join(" ");
    assert!(
        probe.contains(&format!("http://127.0.0.1:{admin}/ping")),
        "the healthcheck asks the admin entry point: {probe}"
    );
}

#[test]
fn nomad_runs_the_pinned_haproxy_with_the_shared_routes_and_native_discovery() {
    let file = nomad_file("gateway.nomad.hcl");
    let version = blocks(&file, "variable")
        .into_iter()
        .find(|variable| label(variable) == "haproxy_version")
        .expect("a haproxy_version variable");
    let release = text(version.body(), "default").expect("a default release");
    assert_eq!(
        release,
        compose_release(),
        "Nomad and compose pin one release"
    );
    assert_same_branch_as_the_tests(&release, "Nomad");

    let haproxy = blocks(&file, "job")
        .into_iter()
        .flat_map(|job| blocks(job.body(), "group"))
        .flat_map(|group| blocks(group.body(), "task"))
        .find(|task| label(task) == "haproxy")
        .expect("a haproxy task");
    let config = blocks(haproxy.body(), "config")[0].body();
    assert_eq!(
        text(config, "image").as_deref(),
        Some("haproxy:${var.haproxy_version}-alpine")
    );
    let args: Vec<String> = match attribute(config, "args") {
        Some(hcl::Expression::Array(items)) => items
            .iter()
            .map(|item| match item {
                hcl::Expression::String(arg) => arg.clone(),
                hcl::Expression::TemplateExpr(template) => template.to_string(),
                other => panic!("an argument: {other:?}"),
            })
            .collect(),
        other => panic!("haproxy args: {other:?}"),
    };
    // Master-worker, or SIGUSR2 (the templates' reload) would stop HAProxy instead.
    assert!(args.contains(&"-W".to_owned()), "{args:?}");
    let files: Vec<&str> = args
        .iter()
        .zip(args.iter().skip(1))
        .filter(|(flag, _)| *flag == "-f")
        .map(|(_, file)| file.as_str())
        .collect();
    assert_eq!(
        files,
        [
            "${NOMAD_TASK_DIR}/routes.cfg",
            "${NOMAD_TASK_DIR}/backends.cfg"
        ],
        "the routes first, the backends second"
    );

    let templates: BTreeMap<String, &hcl::Body> = blocks(haproxy.body(), "template")
        .into_iter()
        .map(|template| {
            (
                text(template.body(), "destination").expect("a destination"),
                template.body(),
            )
        })
        .collect();
    // `file(...)` is a function call the HCL parser keeps as written: check the source.
    let source = read("nomad/gateway.nomad.hcl");
    assert!(source.contains(&format!(r#"data            = file("{ROUTES}")"#)));
    let routes = templates
        .get("local/routes.cfg")
        .expect("routes.cfg rendered");
    assert_eq!(
        text(routes, "left_delimiter").as_deref(),
        Some("[["),
        "nothing in routes.cfg is taken for a Nomad template action"
    );
    for reloading in ["local/backends.cfg", "secrets/gateway.pem"] {
        let template = templates
            .get(reloading)
            .unwrap_or_else(|| panic!("{reloading} rendered: {:?}", templates.keys()));
        assert_eq!(
            text(template, "change_mode").as_deref(),
            Some("signal"),
            "{reloading}"
        );
        assert_eq!(
            text(template, "change_signal").as_deref(),
            Some("SIGUSR2"),
            "{reloading} reloads HAProxy"
        );
    }
    // The certificate and its key in the one PEM file GATEWAY_CERT names.
    let pem = text(templates["secrets/gateway.pem"], "data").expect("the PEM template");
    assert!(
        pem.contains(".tls_cert") && pem.contains(".tls_key"),
        "{pem}"
    );
    let environment = nomad_env_block(haproxy.body());
    assert_eq!(
        environment.get("GATEWAY_CERT").map(String::as_str),
        Some("${NOMAD_SECRETS_DIR}/gateway.pem")
    );
    assert_eq!(
        environment.get("GATEWAY_ADMIN_BIND").map(String::as_str),
        Some("${NOMAD_ADDR_ping}"),
        "the admin entry point on the private address the `gateway` service registers"
    );
    assert_eq!(
        environment.get("GATEWAY_WEB_BIND").map(String::as_str),
        Some(":8443")
    );
    assert_eq!(
        environment.get("GATEWAY_REDIRECT_BIND").map(String::as_str),
        Some(":8080")
    );
    assert_eq!(
        environment.get("GATEWAY_HTTPS_PORT").map(String::as_str),
        Some("8443")
    );

    // Discovery: each public service's registered replicas; the others are not behind it.
    let backends = nomad_backends_template();
    let shop = nomad_file("shop.nomad.hcl");
    let registered: Vec<String> = blocks(&shop, "job")
        .into_iter()
        .flat_map(|job| blocks(job.body(), "group"))
        .flat_map(|group| blocks(group.body(), "service"))
        .filter_map(|service| text(service.body(), "name"))
        .collect();
    for service in [
        "user-service",
        "product-service",
        "order-service",
        "storefront",
    ] {
        assert!(
            backends.contains(&format!("nomadService \"{service}\"")),
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
fn the_routes_file_names_only_the_public_services_and_the_platforms_define_them() {
    let routes = read(ROUTES);
    let sections = sections(&routes);
    let mut routed = Vec::new();
    for section in &sections {
        for line in &section.lines {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["use_backend" | "default_backend", backend, ..] => routed.push(*backend),
                ["server" | "server-template", ..] => {
                    panic!("routes.cfg names a server ({line}): backends are the platforms'")
                }
                _ => {}
            }
        }
    }
    assert!(routed.len() >= 5, "every route is seen: {routed:?}");
    for backend in &routed {
        assert!(
            PUBLIC_BACKENDS.contains(backend),
            "routes.cfg routes to {backend}, which is not a public service"
        );
    }
    // No backend section of its own but the rate table, which has no server.
    for section in sections.iter().filter(|section| section.kind == "backend") {
        assert!(
            section
                .lines
                .iter()
                .all(|line| line.starts_with("stick-table")),
            "routes.cfg backend {} is more than a table",
            section.name
        );
    }
    // Each platform's backends file defines the four, and nothing else.
    for (whence, backends) in [
        (COMPOSE_BACKENDS, read(COMPOSE_BACKENDS)),
        ("the Nomad backends template", nomad_backends_template()),
    ] {
        let defined: Vec<String> = crate::haproxy::sections(&backends)
            .into_iter()
            .filter(|section| matches!(section.kind.as_str(), "backend" | "listen" | "frontend"))
            .map(|section| format!("{} {}", section.kind, section.name))
            .collect();
        assert_eq!(
            defined,
            PUBLIC_BACKENDS.map(|name| format!("backend {name}")),
            "{whence}"
        );
    }
}
