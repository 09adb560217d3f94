//! The deployed shape's security, read from compose.yaml and the Nomad jobs: no Docker socket
//! anywhere, every container hardened (read-only root, no capabilities, no privilege gain, a
//! memory limit), the UIs on loopback, Prometheus without its lifecycle API, one broker user per
//! service and database roles that are not the superuser, Redis and NATS behind passwords.

use std::collections::BTreeMap;

use hcl::Expression;
use serde_norway::Value;

use crate::support::{attribute, blocks, label, nomad_file, read, resolved_compose, text};

const NOMAD_JOBS: [&str; 3] = [
    "infrastructure.nomad.hcl",
    "shop.nomad.hcl",
    "gateway.nomad.hcl",
];

/// The UIs an operator uses; they must never listen on a public address.
const UI_PORTS: [u16; 4] = [15672, 9090, 3000, 16686];

fn compose_services() -> impl Iterator<Item = (&'static str, &'static Value)> {
    resolved_compose()["services"]
        .as_mapping()
        .expect("services")
        .iter()
        .map(|(name, service)| (name.as_str().unwrap_or_default(), service))
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_sequence()
        .into_iter()
        .flatten()
        .map(|item| match item.as_str() {
            Some(text) => text.to_owned(),
            None => serde_json::to_string(item).unwrap_or_default(),
        })
        .collect()
}

/// Every docker task of every Nomad job, `dynamic` blocks expanded: (job file, task name, body).
fn nomad_tasks() -> Vec<(&'static str, String, hcl::Block)> {
    let mut tasks = Vec::new();
    for file in NOMAD_JOBS {
        let body = nomad_file(file);
        for job in blocks(&body, "job") {
            for group in blocks(job.body(), "group") {
                for task in blocks(group.body(), "task") {
                    tasks.push((file, label(task).to_owned(), task.clone()));
                }
            }
        }
    }
    assert!(tasks.len() >= 18, "every task is seen: {}", tasks.len());
    tasks
}

fn expression_strings(expression: Option<&Expression>) -> Vec<String> {
    match expression {
        Some(Expression::Array(items)) => items.iter().map(|item| item.to_string()).collect(),
        _ => Vec::new(),
    }
}

#[test]
fn no_docker_socket_is_mounted_anywhere() {
    for (name, service) in compose_services() {
        let volumes = serde_json::to_string(&service["volumes"]).unwrap();
        assert!(
            !volumes.contains("docker.sock"),
            "compose {name}: {volumes}"
        );
    }
    for (file, task, block) in nomad_tasks() {
        let config = hcl::to_string(block.body()).unwrap();
        assert!(
            !config.contains("docker.sock"),
            "{file} {task} mounts the socket"
        );
    }
    let promtail = read("grafana/promtail/promtail.yaml");
    assert!(
        !promtail.contains("docker_sd_configs") && !promtail.contains("docker.sock"),
        "Promtail reads log files, not the Docker API"
    );
}

#[test]
fn every_compose_container_is_hardened() {
    for (name, service) in compose_services() {
        assert_eq!(
            service["read_only"].as_bool(),
            Some(true),
            "{name}: read_only"
        );
        assert_eq!(strings(&service["cap_drop"]), ["ALL"], "{name}: cap_drop");
        assert!(
            strings(&service["security_opt"]).contains(&"no-new-privileges:true".to_owned()),
            "{name}: no-new-privileges"
        );
        let limited = service["mem_limit"].as_str().is_some()
            || service["mem_limit"].as_u64().is_some()
            || !service["deploy"]["resources"]["limits"]["memory"].is_null();
        assert!(limited, "{name}: a memory limit");
    }
}

#[test]
fn every_nomad_docker_task_is_hardened() {
    for (file, task, block) in nomad_tasks() {
        let body = block.body();
        assert_eq!(
            text(body, "driver").as_deref(),
            Some("docker"),
            "{file} {task}"
        );
        let config = blocks(body, "config")[0].body();
        assert_eq!(
            attribute(config, "readonly_rootfs"),
            Some(&Expression::Bool(true)),
            "{file} {task}: readonly_rootfs"
        );
        assert_eq!(
            expression_strings(attribute(config, "cap_drop")),
            ["\"ALL\""],
            "{file} {task}: cap_drop"
        );
        assert!(
            expression_strings(attribute(config, "security_opt"))
                .contains(&"\"no-new-privileges\"".to_owned()),
            "{file} {task}: security_opt"
        );
        let resources = blocks(body, "resources");
        let memory = resources
            .first()
            .and_then(|resources| attribute(resources.body(), "memory"));
        assert!(
            matches!(memory, Some(Expression::Number(n)) if n.as_u64().unwrap_or(0) > 0),
            "{file} {task}: a memory limit, not {memory:?}"
        );
    }
}

#[test]
fn the_uis_listen_on_loopback_only() {
    for (name, service) in compose_services() {
        for port in service["ports"].as_sequence().into_iter().flatten() {
            // Resolved ports are `host_ip:published:target/proto` strings or mappings.
            let (host_ip, target) = match port.as_str() {
                Some(short) => {
                    let parts: Vec<&str> = short.split(':').collect();
                    let target = parts.last().unwrap().split('/').next().unwrap();
                    let host_ip = if parts.len() == 3 { parts[0] } else { "" };
                    (host_ip.to_owned(), target.parse::<u16>().unwrap_or(0))
                }
                None => (
                    port["host_ip"].as_str().unwrap_or_default().to_owned(),
                    port["target"].as_u64().unwrap_or(0) as u16,
                ),
            };
            if name != "gateway" || UI_PORTS.contains(&target) {
                assert_eq!(host_ip, "127.0.0.1", "compose {name} publishes {port:?}");
            }
        }
    }
    // Under Nomad every port with a fixed number, the gateway's aside, is on the loopback
    // host network; the UIs all have one.
    let infrastructure = nomad_file("infrastructure.nomad.hcl");
    let mut loopback_ports = Vec::new();
    for group in blocks(blocks(&infrastructure, "job")[0].body(), "group") {
        for network in blocks(group.body(), "network") {
            for port in blocks(network.body(), "port") {
                let on_loopback = text(port.body(), "host_network").as_deref() == Some("loopback");
                if attribute(port.body(), "static").is_some() {
                    assert!(on_loopback, "nomad port {} is public", label(port));
                }
                if on_loopback {
                    loopback_ports.push(label(port).to_owned());
                }
            }
        }
    }
    for ui in ["rabbitmq-management", "prometheus", "grafana", "jaeger-ui"] {
        assert!(
            loopback_ports.iter().any(|port| port == ui),
            "{ui}: {loopback_ports:?}"
        );
    }
}

#[test]
fn prometheus_has_no_lifecycle_api() {
    let compose = strings(&resolved_compose()["services"]["prometheus"]["command"]);
    assert!(!compose.is_empty());
    assert!(
        !compose.iter().any(|arg| arg.contains("enable-lifecycle")),
        "{compose:?}"
    );
    let (_, _, task) = nomad_tasks()
        .into_iter()
        .find(|(_, task, _)| task == "prometheus")
        .expect("a prometheus task");
    let args = expression_strings(attribute(blocks(task.body(), "config")[0].body(), "args"));
    assert!(!args.is_empty());
    assert!(
        !args.iter().any(|arg| arg.contains("enable-lifecycle")),
        "{args:?}"
    );
}

/// The user of each service's AMQP_URL, from compose and from the Nomad templates.
fn amqp_users() -> Vec<(String, String)> {
    let mut users = Vec::new();
    let user_of = |url: &str| {
        url.trim_start_matches("amqp://")
            .split(':')
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    for (name, service) in compose_services() {
        if let Some(url) = service["environment"]["AMQP_URL"].as_str() {
            users.push((format!("compose {name}"), user_of(url)));
        }
    }
    for (file, task, block) in nomad_tasks() {
        let environment = crate::support::nomad_task_environment(block.body());
        if let Some(url) = environment.get("AMQP_URL") {
            users.push((format!("{file} {task}"), user_of(url)));
        }
    }
    users
}

#[test]
fn every_service_has_a_broker_user_of_its_own_and_none_is_an_administrator() {
    let users = amqp_users();
    assert_eq!(
        users.len(),
        6,
        "order, notification, bridge in compose and Nomad: {users:?}"
    );
    let definitions = read("deploy/rabbitmq/render-definitions.sh");
    let mut per_service: BTreeMap<String, String> = BTreeMap::new();
    for (whence, user) in &users {
        assert!(
            !["", "shop", "guest", "admin", "shop-admin"].contains(&user.as_str()),
            "{whence}: a shared or administrator user {user:?}"
        );
        let service = whence.rsplit(' ').next().unwrap().to_owned();
        let previous = per_service.insert(service.clone(), user.clone());
        assert!(
            previous.is_none_or(|previous| &previous == user),
            "{service}"
        );
        // The user exists, with no tags, and with permissions narrower than everything.
        let declared = format!("$(user {user} ");
        let line = definitions
            .lines()
            .find(|line| line.contains(&declared))
            .unwrap_or_else(|| panic!("{whence}: {user} is not defined"));
        assert!(
            line.trim_end().trim_end_matches(',').ends_with("'')"),
            "{user} has tags: {line}"
        );
        let permission = definitions
            .lines()
            .find(|line| line.contains(&format!("$(permission {user} ")))
            .unwrap_or_else(|| panic!("{user} has no permissions"));
        assert!(
            !permission.contains("'.*'"),
            "{user} may touch everything: {permission}"
        );
    }
    let distinct: std::collections::BTreeSet<&String> = per_service.values().collect();
    assert_eq!(
        distinct.len(),
        per_service.len(),
        "one user per service: {per_service:?}"
    );
    // The broker itself: no default user, the definitions loaded at start.
    let rabbitmq = &resolved_compose()["services"]["rabbitmq"];
    assert!(rabbitmq["environment"]["RABBITMQ_DEFAULT_USER"].is_null());
    assert!(read("deploy/rabbitmq/shop.conf").contains("load_definitions"));
    assert!(!read("nomad/infrastructure.nomad.hcl").contains("RABBITMQ_DEFAULT_USER"));
}

#[test]
fn services_log_in_to_postgres_with_roles_of_their_own_not_the_superuser() {
    let roles = read("deploy/postgres/roles.sh");
    assert!(roles.contains("NOSUPERUSER") && !roles.contains(" SUPERUSER"));
    let user_of = |url: &str| {
        url.trim_start_matches("postgres://")
            .split(':')
            .next()
            .unwrap()
            .to_owned()
    };
    for (name, service) in compose_services() {
        let Some(url) = service["environment"]["DATABASE_URL"].as_str() else {
            continue;
        };
        let user = user_of(url);
        let database = url.rsplit('/').next().unwrap();
        // Serving with the rows-only role; migrating with the schema owner.
        assert_eq!(user, format!("{database}_app"), "compose {name}");
        let migration = service["environment"]["DATABASE_MIGRATION_URL"]
            .as_str()
            .unwrap_or_else(|| panic!("compose {name} has no DATABASE_MIGRATION_URL"));
        assert_eq!(
            user_of(migration),
            format!("{database}_owner"),
            "compose {name}"
        );
        let user = user.as_str();
        let db_service = &resolved_compose()["services"][format!("{database}-db").as_str()];
        assert_ne!(
            db_service["environment"]["POSTGRES_USER"].as_str(),
            Some(user)
        );
        assert!(
            strings(&db_service["volumes"])
                .iter()
                .any(|volume| volume
                    .contains("deploy/postgres/roles.sh:/docker-entrypoint-initdb.d/")),
            "{database}-db creates the roles"
        );
    }
    let shop = read("nomad/shop.nomad.hcl");
    assert_eq!(shop.matches("DATABASE_URL=postgres://").count(), 3);
    for database in ["users", "products", "orders"] {
        assert!(shop.contains(&format!("}}DATABASE_URL=postgres://{database}_app:")));
        assert!(shop.contains(&format!(
            "}}DATABASE_MIGRATION_URL=postgres://{database}_owner:"
        )));
    }
    assert_eq!(
        read("nomad/infrastructure.nomad.hcl")
            .matches(r#"file("deploy/postgres/roles.sh")"#)
            .count(),
        3
    );
}

/// The `KEY=...` lines of the Nomad service templates, actions kept.
fn nomad_template_lines(key: &str) -> Vec<String> {
    read("nomad/shop.nomad.hcl")
        .lines()
        .filter(|line| line.contains(&format!("{key}=")))
        .map(str::to_owned)
        .collect()
}

#[test]
fn redis_and_nats_require_credentials_and_the_services_present_them() {
    let credentialed = |url: &str, scheme: &str| {
        url.strip_prefix(scheme)
            .and_then(|rest| rest.split_once('@'))
            .is_some_and(|(credentials, _)| credentials.contains(':') && credentials.len() > 1)
    };
    let mut seen = 0;
    for (name, service) in compose_services() {
        for (key, scheme) in [("REDIS_URL", "redis://"), ("NATS_URL", "nats://")] {
            if let Some(url) = service["environment"][key].as_str() {
                seen += 1;
                assert!(credentialed(url, scheme), "compose {name}: {key}={url}");
            }
        }
    }
    assert_eq!(
        seen, 6,
        "user, product, notification and storefront (Redis), bridge and storefront (NATS)"
    );
    let lines = nomad_template_lines("REDIS_URL");
    assert_eq!(lines.len(), 4, "REDIS_URL: {lines:?}");
    for line in lines {
        assert!(
            line.contains(".redis_password") && line.contains("}}@{{"),
            "{line}"
        );
    }
    // NATS: each client its own user and password (deploy/nats/shop.conf names both).
    let lines = nomad_template_lines("NATS_URL");
    assert_eq!(lines.len(), 2, "NATS_URL: {lines:?}");
    for user in ["bridge", "storefront"] {
        assert!(
            lines
                .iter()
                .any(|line| line.contains(&format!("NATS_URL=nats://{user}:"))
                    && line.contains(&format!(".nats_{user}_password"))
                    && line.contains("}}@{{")),
            "{user}: {lines:?}"
        );
    }
    for (service, user) in [("event-bridge", "bridge"), ("storefront", "storefront")] {
        let url = resolved_compose()["services"][service]["environment"]["NATS_URL"]
            .as_str()
            .unwrap_or_default();
        assert!(
            url.starts_with(&format!("nats://{user}:")),
            "compose {service}: {url}"
        );
    }
    // The servers refuse clients without them.
    let redis = strings(&resolved_compose()["services"]["redis"]["command"]);
    assert!(redis.contains(&"--requirepass".to_owned()), "{redis:?}");
    let nats = strings(&resolved_compose()["services"]["nats"]["command"]);
    assert!(
        nats.windows(2)
            .any(|pair| pair == ["--config", "/etc/nats/shop.conf"]),
        "{nats:?}"
    );
    assert!(
        strings(&resolved_compose()["services"]["nats"]["volumes"])
            .iter()
            .any(|volume| volume.contains("deploy/nats/shop.conf")),
        "compose mounts the users file"
    );
    let infrastructure = read("nomad/infrastructure.nomad.hcl");
    assert!(infrastructure.contains("requirepass {{ .redis_password }}"));
    assert!(infrastructure.contains(r#"data        = file("deploy/nats/shop.conf")"#));
    assert!(infrastructure.contains(r#""--config", "/local/shop.conf""#));
}

/// Compose and Nomad run several notification replicas; a redelivered event that reaches
/// another replica must find the first one's record, so the record lives in Redis.
#[test]
fn notification_replicas_share_their_dedup_record() {
    let compose = compose_services()
        .into_iter()
        .find(|(name, _)| *name == "notification-service")
        .map(|(_, service)| service)
        .expect("compose runs the notification service");
    assert_eq!(
        compose["environment"]["NOTIFY_DEDUP_STORE"].as_str(),
        Some("redis")
    );
    assert!(
        compose["environment"]["REDIS_URL"].as_str().is_some(),
        "{:?}",
        compose["environment"]
    );
    let nomad = read("nomad/shop.nomad.hcl");
    let notification = nomad
        .split("\"notification-service\" = {")
        .nth(1)
        .and_then(|rest| rest.split("EOT").nth(1))
        .expect("the Nomad job has a notification-service entry");
    assert!(
        notification.contains("NOTIFY_DEDUP_STORE=redis")
            && notification.contains("REDIS_URL=redis://"),
        "{notification}"
    );
}
