//! `cp .env.example .env && docker compose up` must not give a running production system: every
//! secret the repository publishes is refused by the service that reads it, naming the key.

use std::collections::BTreeMap;

use shop_config::ServiceConfig as _;
use shop_config::{ConfigError, Settings};

use super::support::read;

/// `.env.example` as `KEY → value`.
fn env_example() -> BTreeMap<String, String> {
    read(".env.example")
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| (key.trim().to_owned(), value.trim().to_owned()))
        .collect()
}

/// Values no repository file holds, standing in for what an operator generates.
const GENERATED: &str = "Hq3TzW8vN1pK6sX0cR5mB9yL2dF7gJ4a";

fn settings(pairs: &[(&'static str, String)]) -> Settings {
    Settings::from_pairs(pairs.iter().map(|(key, value)| (*key, value.clone())))
}

/// The settings compose gives a service, with generated secrets except `example_key`, which
/// takes its `.env.example` value.
fn compose_like(example_key: &str) -> impl Fn(&str) -> String {
    let example = env_example();
    let example_key = example_key.to_owned();
    move |key: &str| {
        if key == example_key {
            example[key].clone()
        } else {
            GENERATED.to_owned()
        }
    }
}

fn user(example_key: &str) -> Result<(), ConfigError> {
    let value = compose_like(example_key);
    let pairs = [
        (
            "DATABASE_URL",
            format!(
                "postgres://users_owner:{}@users-db:5432/users",
                value("USERS_DB_OWNER_PASSWORD")
            ),
        ),
        ("JWT_SECRET", value("JWT_SECRET")),
        (
            "REDIS_URL",
            format!("redis://:{}@redis:6379", value("REDIS_PASSWORD")),
        ),
        ("BOOTSTRAP_ADMIN_USERNAME", "admin".to_owned()),
        (
            "BOOTSTRAP_ADMIN_PASSWORD",
            value("BOOTSTRAP_ADMIN_PASSWORD"),
        ),
    ];
    user_service::config::UserServiceConfig::from_settings(settings(&pairs)).map(drop)
}

fn order(example_key: &str) -> Result<(), ConfigError> {
    let value = compose_like(example_key);
    let pairs = [
        (
            "DATABASE_URL",
            format!(
                "postgres://orders_owner:{}@orders-db:5432/orders",
                value("ORDERS_DB_OWNER_PASSWORD")
            ),
        ),
        (
            "AMQP_URL",
            format!(
                "amqp://shop-order:{}@rabbitmq:5672/%2f",
                value("RABBITMQ_ORDER_PASSWORD")
            ),
        ),
        ("SERVICE_TOKEN", value("SERVICE_TOKEN")),
    ];
    order_service::config::OrderServiceConfig::from_settings(settings(&pairs)).map(drop)
}

fn storefront(example_key: &str) -> Result<(), ConfigError> {
    let value = compose_like(example_key);
    let pairs = [
        ("STOREFRONT_CSRF_SECRET", value("STOREFRONT_CSRF_SECRET")),
        (
            "REDIS_URL",
            format!("redis://:{}@redis:6379", value("REDIS_PASSWORD")),
        ),
        ("SERVICE_TOKEN", value("SERVICE_TOKEN")),
    ];
    storefront::config::StorefrontConfig::from_settings(settings(&pairs)).map(drop)
}

#[test]
fn generated_secrets_pass_the_production_checks() {
    user("none").expect("the user service accepts generated secrets");
    order("none").expect("the order service accepts generated secrets");
    storefront("none").expect("the storefront accepts generated secrets");
}

#[test]
fn every_published_example_secret_is_refused_naming_the_setting() {
    for (example_key, service, setting) in [
        ("JWT_SECRET", user as fn(&str) -> _, "JWT_SECRET"),
        ("BOOTSTRAP_ADMIN_PASSWORD", user, "BOOTSTRAP_ADMIN_PASSWORD"),
        ("USERS_DB_OWNER_PASSWORD", user, "DATABASE_URL"),
        ("REDIS_PASSWORD", user, "REDIS_URL"),
        ("ORDERS_DB_OWNER_PASSWORD", order, "DATABASE_URL"),
        ("RABBITMQ_ORDER_PASSWORD", order, "AMQP_URL"),
        ("SERVICE_TOKEN", order, "SERVICE_TOKEN"),
        (
            "STOREFRONT_CSRF_SECRET",
            storefront,
            "STOREFRONT_CSRF_SECRET",
        ),
        ("REDIS_PASSWORD", storefront, "REDIS_URL"),
        ("SERVICE_TOKEN", storefront, "SERVICE_TOKEN"),
    ] {
        let error = service(example_key).expect_err(example_key);
        assert_eq!(error.key, setting, "{example_key}: {error}");
        let secret = &env_example()[example_key];
        assert!(!error.to_string().contains(secret.as_str()), "{error}");
    }
}

#[test]
fn production_has_no_fallback_for_the_database_and_the_broker() {
    let token = ("SERVICE_TOKEN", GENERATED.to_owned());
    let without_database = [
        token.clone(),
        ("AMQP_URL", format!("amqp://shop:{GENERATED}@mq/%2f")),
    ];
    let error =
        order_service::config::OrderServiceConfig::from_settings(settings(&without_database))
            .unwrap_err();
    assert_eq!(error.key, "DATABASE_URL");

    let without_broker = [
        token,
        (
            "DATABASE_URL",
            format!("postgres://shop:{GENERATED}@db/orders"),
        ),
    ];
    let error = order_service::config::OrderServiceConfig::from_settings(settings(&without_broker))
        .unwrap_err();
    assert_eq!(error.key, "AMQP_URL");
    for service in [
        notification_service::config::NotificationConfig::from_settings(settings(&[])).map(drop),
        event_bridge::config::BridgeConfig::from_settings(settings(&[])).map(drop),
    ] {
        assert_eq!(service.unwrap_err().key, "AMQP_URL");
    }
}
