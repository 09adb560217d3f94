//! docs/configuration.md is rendered from the services' own settings sections. This test
//! renders it again and fails when the committed file differs, so a setting added, renamed or
//! re-defaulted in code cannot leave the reference behind. `cargo xtask docs` rewrites it (it
//! runs the ignored writer below; the check itself never writes).

use shop_config::{ServiceConfig, reference_markdown};

use crate::support::repo_root;

const REFERENCE: &str = "docs/configuration.md";

fn rendered() -> String {
    reference_markdown(&[
        user_service::config::UserServiceConfig::reference(),
        product_service::config::ProductServiceConfig::reference(),
        order_service::config::OrderServiceConfig::reference(),
        notification_service::config::NotificationConfig::reference(),
        event_bridge::config::BridgeConfig::reference(),
        storefront::config::StorefrontConfig::reference(),
    ])
}

#[test]
fn configuration_reference_matches_the_settings_sections() {
    let expected = rendered();
    let committed = std::fs::read_to_string(repo_root().join(REFERENCE)).unwrap_or_default();
    if committed != expected {
        let first_difference = committed
            .lines()
            .zip(expected.lines())
            .position(|(old, new)| old != new)
            .map_or_else(
                || "its length".to_owned(),
                |line| format!("line {}", line + 1),
            );
        panic!(
            "{REFERENCE} is out of date with the services' settings (first difference at \
             {first_difference}); regenerate it with `cargo xtask docs` and commit the result"
        );
    }
}

/// Not a check: writes the reference for `cargo xtask docs`. Ignored so that a test run never
/// rewrites the file the check above compares.
#[test]
#[ignore = "writes docs/configuration.md; run by `cargo xtask docs`"]
fn write_the_configuration_reference() {
    std::fs::write(repo_root().join(REFERENCE), rendered()).expect("writing the reference");
}

#[test]
fn every_setting_a_service_reads_is_in_the_reference() {
    let text = rendered();
    for names in [
        user_service::config::UserServiceConfig::setting_names(),
        product_service::config::ProductServiceConfig::setting_names(),
        order_service::config::OrderServiceConfig::setting_names(),
        notification_service::config::NotificationConfig::setting_names(),
        event_bridge::config::BridgeConfig::setting_names(),
        storefront::config::StorefrontConfig::setting_names(),
    ] {
        for name in names {
            assert!(
                text.contains(&format!("| `{name}` |")),
                "{name} is not documented"
            );
        }
    }
    // Per-service defaults show per service.
    assert!(text.contains("`postgres://postgres@127.0.0.1:5432/users` (user-service)"));
    assert!(text.contains("8005 (event-bridge)"));
}
