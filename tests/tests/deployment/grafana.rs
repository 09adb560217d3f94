//! Grafana, Loki and Promtail configuration, which no binary here can load: checked for what
//! would break silently — a dashboard pointing at a data source that is not provisioned, a
//! derived field or a Promtail stage that does not match the lines the services really write.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::support::{read, repo_root};

fn yaml(relative: &str) -> serde_norway::Value {
    serde_norway::from_str(&read(relative)).unwrap_or_else(|error| panic!("{relative}: {error}"))
}

fn dashboards() -> Vec<Value> {
    let mut dashboards: Vec<Value> = std::fs::read_dir(repo_root().join("grafana/dashboards"))
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
                .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
        })
        .collect();
    dashboards.sort_by_key(|dashboard| dashboard["uid"].as_str().map(str::to_owned));
    dashboards
}

/// A line exactly as a service writes it, from inside a span.
fn real_log_line() -> Value {
    let (capture, _guard) = test_support::logs::capture_json_logs("order-service");
    tracing::info_span!("http.request").in_scope(|| tracing::info!(order_id = 7, "order placed"));
    capture.lines().pop().expect("one line")
}

#[test]
fn dashboards_use_only_provisioned_data_sources() {
    let datasources = yaml("grafana/provisioning/datasources/datasources.yaml");
    let uids: BTreeSet<&str> = datasources["datasources"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|source| source["uid"].as_str().unwrap())
        .collect();
    assert_eq!(uids, BTreeSet::from(["jaeger", "loki", "prometheus"]));
    let dashboards = dashboards();
    let titles: BTreeSet<&str> = dashboards
        .iter()
        .map(|d| d["uid"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        BTreeSet::from(["shop-business", "shop-messaging", "shop-red"])
    );
    for dashboard in &dashboards {
        for panel in dashboard["panels"].as_array().unwrap() {
            let uid = panel["datasource"]["uid"].as_str().unwrap();
            assert!(uids.contains(uid), "{}: {uid}", panel["title"]);
            assert!(
                !panel["targets"].as_array().unwrap().is_empty(),
                "{}",
                panel["title"]
            );
        }
    }
    // Grafana reads the dashboards from where compose mounts them.
    let provider = yaml("grafana/provisioning/dashboards/dashboards.yaml");
    let path = provider["providers"][0]["options"]["path"]
        .as_str()
        .unwrap();
    assert!(read("compose.yaml").contains(&format!("./grafana/dashboards:{path}:ro")));
}

#[test]
fn the_loki_derived_field_finds_the_trace_id_of_a_real_log_line() {
    let line = real_log_line();
    let text = serde_json::to_string(&line).unwrap();
    let datasources = yaml("grafana/provisioning/datasources/datasources.yaml");
    let loki = datasources["datasources"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|source| source["type"] == "loki")
        .unwrap();
    let field = &loki["jsonData"]["derivedFields"][0];
    assert_eq!(field["datasourceUid"].as_str(), Some("jaeger"));
    let pattern = regex::Regex::new(field["matcherRegex"].as_str().unwrap()).unwrap();
    let found = pattern
        .captures(&text)
        .unwrap_or_else(|| panic!("{pattern} finds nothing in {text}"));
    assert_eq!(Some(&found[1]), line["trace_id"].as_str());
}

#[test]
fn promtail_parses_the_fields_the_services_write() {
    let line = real_log_line();
    let promtail = yaml("grafana/promtail/promtail.yaml");
    let job = &promtail["scrape_configs"][0];
    let path = job["static_configs"][0]["labels"]["__path__"].as_str();
    assert_eq!(
        path,
        Some("/var/lib/docker/containers/*/*-json.log"),
        "container logs read from Docker's json-file logs"
    );
    let stages = job["pipeline_stages"]
        .as_sequence()
        .unwrap()
        .iter()
        .find_map(|stage| stage.get("match"))
        .expect("a stage for the services' lines")["stages"]
        .as_sequence()
        .unwrap();
    let json = stages
        .iter()
        .find_map(|stage| stage.get("json"))
        .expect("a json stage");
    let mut extracted = Vec::new();
    for (name, source) in json["expressions"].as_mapping().unwrap() {
        let key = source.as_str().unwrap_or_else(|| name.as_str().unwrap());
        assert!(
            line.get(key).is_some(),
            "the services write no {key:?}: {line}"
        );
        extracted.push(name.as_str().unwrap());
    }
    assert!(extracted.contains(&"trace_id"));
    let timestamp = stages
        .iter()
        .find_map(|stage| stage.get("timestamp"))
        .unwrap();
    assert_eq!(timestamp["format"].as_str(), Some("RFC3339Nano"));
    chrono::DateTime::parse_from_rfc3339(line["timestamp"].as_str().unwrap()).unwrap();
}

#[test]
fn logs_and_metrics_are_kept_seven_days() {
    let loki = yaml("grafana/loki/loki.yaml");
    assert_eq!(
        loki["limits_config"]["retention_period"].as_str(),
        Some("168h")
    );
    assert_eq!(loki["compactor"]["retention_enabled"].as_bool(), Some(true));
    assert!(read("compose.yaml").contains("--storage.tsdb.retention.time=7d"));
}
