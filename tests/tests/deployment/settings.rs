//! Every environment variable a deployment file gives a service must be a setting that service
//! reads. The lists come from the services' configuration types
//! (`ServiceConfig::setting_names`, built by the runtime from each declared section), so a renamed or removed setting fails here
//! instead of being silently ignored in production.

use std::collections::{BTreeMap, BTreeSet};

use shop_config::ServiceConfig;

use crate::support::{compose_shop_environments, nomad_shop_tasks, nomad_task_environment};

/// The settings `binary` reads.
fn settings_of(binary: &str) -> BTreeSet<String> {
    match binary {
        "user-service" => user_service::config::UserServiceConfig::setting_names(),
        "product-service" => product_service::config::ProductServiceConfig::setting_names(),
        "order-service" => order_service::config::OrderServiceConfig::setting_names(),
        "notification-service" => notification_service::config::NotificationConfig::setting_names(),
        "event-bridge" => event_bridge::config::BridgeConfig::setting_names(),
        "storefront" => storefront::config::StorefrontConfig::setting_names(),
        other => panic!("no settings list for {other}: add it here"),
    }
}

fn assert_all_read(binary: &str, source: &str, environment: &BTreeMap<String, String>) {
    let known = settings_of(binary);
    let unknown: Vec<&String> = environment
        .keys()
        .filter(|key| !known.contains(*key))
        .collect();
    assert!(
        unknown.is_empty(),
        "{source} gives {binary} {unknown:?}, which it does not read; it reads {known:?}"
    );
    assert!(
        !environment.is_empty(),
        "{source}: {binary} gets no environment"
    );
}

#[test]
fn settings_lists_come_from_the_configuration_types() {
    let user = settings_of("user-service");
    for key in [
        "PORT",
        "DATABASE_URL",
        "JWT_SECRET",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "RUST_LOG",
    ] {
        assert!(user.contains(key), "{key} in {user:?}");
    }
    assert!(!user.contains("AMQP_URL"));
    let notification = settings_of("notification-service");
    assert!(notification.contains("SMTP_HOST") && notification.contains("NOTIFY_WEBHOOK_URL"));
    assert!(settings_of("order-service").contains("PRODUCT_SERVICE_URL"));
    assert!(settings_of("product-service").contains("REDIS_URL"));
}

#[test]
fn compose_gives_services_only_settings_they_read() {
    let mut checked = 0;
    for (service, binary, environment) in compose_shop_environments() {
        assert_all_read(binary, &format!("compose service {service}"), &environment);
        checked += 1;
    }
    assert!(checked >= 4);
}

#[test]
fn nomad_gives_tasks_only_settings_they_read() {
    let tasks = nomad_shop_tasks();
    for (binary, task) in &tasks {
        let environment = nomad_task_environment(task);
        assert_all_read(binary, &format!("nomad task {binary}"), &environment);
    }
    assert!(tasks.len() >= 4);
}

#[test]
#[should_panic(expected = "which it does not read")]
fn a_misspelt_variable_is_refused() {
    let environment = BTreeMap::from([("JWT_SECRT".to_owned(), "x".to_owned())]);
    assert_all_read("user-service", "an example", &environment);
}
