//! The Prometheus configuration and rules, checked by Debian's `promtool`.

use crate::support::{assert_success, run};

#[test]
fn scrape_configurations_are_valid() {
    for config in [
        "grafana/prometheus/prometheus.yml",
        "grafana/prometheus/prometheus-nomad.yml",
    ] {
        // Also loads and checks every rule file the configuration names.
        let output = run("promtool", &["check", "config", config], "prometheus");
        assert_success(&output, &format!("promtool check config {config}"));
        let report = String::from_utf8_lossy(&output.stdout);
        assert!(report.contains("rule files found"), "{report}");
    }
}

#[test]
fn every_service_and_exporter_is_scraped_every_15_seconds() {
    let config: serde_norway::Value =
        serde_norway::from_str(&crate::support::read("grafana/prometheus/prometheus.yml")).unwrap();
    assert_eq!(config["global"]["scrape_interval"].as_str(), Some("15s"));
    let jobs: Vec<&str> = config["scrape_configs"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|job| job["job_name"].as_str().unwrap())
        .collect();
    // Each service's job asks DNS for its replicas on the port its image listens on.
    let ports = crate::support::image_ports();
    for job in config["scrape_configs"].as_sequence().unwrap() {
        let name = job["job_name"].as_str().unwrap();
        if let Some(port) = ports.get(name) {
            let sd = &job["dns_sd_configs"][0];
            assert_eq!(sd["names"][0].as_str(), Some(name), "{name}");
            assert_eq!(sd["port"].as_u64(), Some(u64::from(*port)), "{name}");
        }
    }
    let mut expected: Vec<String> = crate::support::workspace_binaries();
    expected.extend(["redis".into(), "rabbitmq".into(), "rabbitmq-queues".into()]);
    for job in &expected {
        assert!(jobs.contains(&job.as_str()), "{job} is scraped: {jobs:?}");
    }
}

#[test]
fn rules_are_valid_and_their_unit_tests_pass() {
    let output = run(
        "promtool",
        &["check", "rules", "grafana/prometheus/rules/shop.yml"],
        "prometheus",
    );
    assert_success(&output, "promtool check rules");
    let output = run(
        "promtool",
        &["test", "rules", "grafana/prometheus/tests/shop.test.yml"],
        "prometheus",
    );
    assert_success(&output, "promtool test rules");
}

#[test]
fn the_required_alerts_exist() {
    let rules = crate::support::read("grafana/prometheus/rules/shop.yml");
    for alert in [
        "HighErrorRatio",
        "HighLatencyP99",
        "OutboxBacklogGrowing",
        "DeadLetterQueueNotEmpty",
        "BridgeLag",
        "ServiceDown",
    ] {
        assert!(rules.contains(&format!("alert: {alert}\n")), "{alert}");
        let tests = crate::support::read("grafana/prometheus/tests/shop.test.yml");
        assert!(
            tests.contains(&format!("alertname: {alert}\n")),
            "{alert} has a unit test"
        );
    }
}
