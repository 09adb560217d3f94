//! The environment each deployment file gives a service passes that service's configuration
//! loader under the production profile, once its secrets are what an operator generates: a
//! required setting missing from compose or Nomad, or a value production refuses, fails here
//! instead of at the first deploy.
//!
//! Written against the files' structure, not their values: compose as Compose resolves it
//! (`.env.example` substituted, its `dev-only-` secrets then replaced by generated ones), and
//! each Nomad task's `env` block and rendered `env = true` templates, with addresses, ports,
//! Nomad variables and `env` lookups filled in as Nomad would.

use std::collections::BTreeMap;

use regex::Regex;
use shop_config::ServiceConfig as _;
use shop_config::{ConfigError, Settings};

use crate::support::{attribute, blocks, compose_shop_environments, nomad_shop_tasks, text};

/// What an operator generates for one secret: long, random, from no repository file.
fn generated_secret() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// Runs `binary`'s configuration loader on `environment` under the production profile.
fn load(binary: &str, environment: &BTreeMap<String, String>) -> Result<(), ConfigError> {
    let settings = Settings::from_pairs(
        environment
            .iter()
            .filter(|(key, _)| key.as_str() != "APP_PROFILE")
            .map(|(key, value)| (key.as_str(), value.clone()))
            .chain([("APP_PROFILE", "production".to_owned())]),
    );
    match binary {
        "user-service" => {
            user_service::config::UserServiceConfig::from_settings(settings).map(drop)
        }
        "product-service" => {
            product_service::config::ProductServiceConfig::from_settings(settings).map(drop)
        }
        "order-service" => {
            order_service::config::OrderServiceConfig::from_settings(settings).map(drop)
        }
        "notification-service" => {
            notification_service::config::NotificationConfig::from_settings(settings).map(drop)
        }
        "event-bridge" => event_bridge::config::BridgeConfig::from_settings(settings).map(drop),
        "storefront" => storefront::config::StorefrontConfig::from_settings(settings).map(drop),
        other => panic!("no configuration loader for {other}: add it here"),
    }
}

fn assert_accepted(binary: &str, source: &str, environment: &BTreeMap<String, String>) {
    if let Err(error) = load(binary, environment) {
        panic!(
            "{source}: {binary} refuses its environment: {error} (environment: {environment:?})"
        );
    }
}

/// Replaces every `dev-only-…` value (alone or inside a URL) by a generated secret; the same
/// published value gets the same generated one, as a shared password would.
fn with_generated_secrets(value: &str, generated: &mut BTreeMap<String, String>) -> String {
    let published = Regex::new(r"dev-only-[A-Za-z0-9_-]*").unwrap();
    published
        .replace_all(value, |found: &regex::Captures| {
            generated
                .entry(found[0].to_owned())
                .or_insert_with(generated_secret)
                .clone()
        })
        .into_owned()
}

#[test]
fn compose_environments_pass_each_services_production_configuration() {
    let mut generated = BTreeMap::new();
    let mut checked = 0;
    for (service, binary, environment) in compose_shop_environments() {
        let environment: BTreeMap<String, String> = environment
            .into_iter()
            .map(|(key, value)| (key, with_generated_secrets(&value, &mut generated)))
            .collect();
        let source = format!("compose service {service}");
        assert_accepted(binary, &source, &environment);
        checked += 1;
    }
    assert!(checked >= 6, "every shop binary runs in compose");
    assert!(!generated.is_empty(), "compose takes its secrets from .env");
}

/// Renders the subset of Go templates the job's environments use, as Nomad would for one
/// healthy instance of each dependency: `{{ range nomadService … }}` and `{{ with nomadVar … }}`
/// blocks are kept (one instance, one variable), `{{ .Address }}`/`{{ .Port }}` are that
/// instance's, any other `{{ .name }}` is a Nomad variable (a generated secret), `{{ env "X" }}`
/// a value of the allocation.
fn render_nomad_template(data: &str, variables: &mut BTreeMap<String, String>) -> String {
    let action = Regex::new(r"\{\{-?\s*(.*?)\s*-?\}\}").unwrap();
    action
        .replace_all(data, |found: &regex::Captures| {
            let inside = found[1].trim();
            if inside == ".Address" {
                "10.0.0.7".to_owned()
            } else if inside == ".Port" {
                "4567".to_owned()
            } else if let Some(name) = inside.strip_prefix('.') {
                variables
                    .entry(name.to_owned())
                    .or_insert_with(generated_secret)
                    .clone()
            } else if inside.starts_with("env ") {
                uuid::Uuid::new_v4().to_string()
            } else if inside.starts_with("range ") || inside.starts_with("with ") || inside == "end"
            {
                String::new()
            } else {
                panic!("a template action this test does not render: {{{{ {inside} }}}}")
            }
        })
        .into_owned()
}

/// A Nomad task's environment: its `env` block, then its rendered `env = true` templates.
fn nomad_environment(
    task: &hcl::Body,
    variables: &mut BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut environment = crate::support::nomad_env_block(task);
    for template in blocks(task, "template") {
        if attribute(template.body(), "env") != Some(&hcl::Expression::Bool(true)) {
            continue;
        }
        let data = text(template.body(), "data").expect("an env template has data");
        for line in render_nomad_template(&data, variables).lines() {
            if let Some((key, value)) = line.trim().split_once('=') {
                environment.insert(key.to_owned(), value.to_owned());
            }
        }
    }
    environment
}

#[test]
fn nomad_environments_pass_each_services_production_configuration() {
    let mut variables = BTreeMap::new();
    let tasks = nomad_shop_tasks();
    for (binary, task) in &tasks {
        let environment = nomad_environment(task, &mut variables);
        assert_accepted(binary, &format!("nomad task {binary}"), &environment);
    }
    assert!(tasks.len() >= 6, "every shop binary runs in Nomad");
    assert!(
        !variables.is_empty(),
        "Nomad takes its secrets from variables"
    );
}

#[test]
fn a_required_setting_missing_from_a_deploy_file_is_caught() {
    let environment = BTreeMap::from([("JWT_SECRET".to_owned(), generated_secret())]);
    let error = load("user-service", &environment).unwrap_err();
    assert_eq!(error.key, "DATABASE_URL");
}

#[test]
fn the_template_renderer_fills_what_nomad_fills() {
    let mut variables = BTreeMap::new();
    let rendered = render_nomad_template(
        r#"{{ range nomadService "db" }}URL=pg://shop:{{ with nomadVar "x" }}{{ .pw }}{{ end }}@{{ .Address }}:{{ .Port }}/u{{ end }}"#,
        &mut variables,
    );
    assert_eq!(
        rendered,
        format!("URL=pg://shop:{}@10.0.0.7:4567/u", variables["pw"])
    );
}
