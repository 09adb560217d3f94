//! The PromQL the live observability test evaluates: every dashboard panel's query and every
//! rule's expression, alert rules reduced to their signal (the expression without its final
//! comparison, each operand of `or`/`and` on its own, `absent(x)` as `x`), because a healthy
//! system is below every threshold.

use serde_json::Value;

use crate::support::{read, repo_root};

/// Every query of every dashboard panel, with Grafana's variables given values.
pub fn dashboard_queries() -> Vec<(String, String)> {
    let mut queries = Vec::new();
    let directory = repo_root().join("grafana/dashboards");
    for entry in std::fs::read_dir(&directory).unwrap() {
        let path = entry.unwrap().path();
        let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        for panel in dashboard["panels"].as_array().unwrap() {
            for target in panel["targets"].as_array().unwrap() {
                let expr = target["expr"].as_str().unwrap();
                let expr = expr.replace("$__rate_interval", "1m").replace("$job", ".+");
                assert!(!expr.contains('$'), "unknown variable in {expr}");
                queries.push((
                    format!(
                        "{} / {}",
                        dashboard["title"].as_str().unwrap(),
                        panel["title"]
                    ),
                    expr,
                ));
            }
        }
    }
    queries
}

/// Recording rules as they are; alert rules as their signals (see the module comment).
pub fn rule_queries() -> Vec<(String, String)> {
    let rules: serde_norway::Value =
        serde_norway::from_str(&read("grafana/prometheus/rules/shop.yml")).unwrap();
    let mut queries = Vec::new();
    for group in rules["groups"].as_sequence().unwrap() {
        for rule in group["rules"].as_sequence().unwrap() {
            let expr = rule["expr"].as_str().unwrap().trim().to_owned();
            if let Some(record) = rule["record"].as_str() {
                queries.push((format!("record {record} (expr)"), expr));
                queries.push((format!("record {record} (series)"), record.to_owned()));
            } else {
                let alert = rule["alert"].as_str().unwrap();
                for signal in alert_signals(&expr) {
                    queries.push((format!("alert {alert}"), signal));
                }
            }
        }
    }
    queries
}

/// Byte offsets where `expr` has `token` outside parentheses, braces, brackets and strings.
fn top_level(expr: &str, tokens: &[&str]) -> Vec<(usize, usize)> {
    let bytes = expr.as_bytes();
    let (mut depth, mut quote, mut found) = (0i32, None, Vec::new());
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        match quote {
            Some(_) if byte == b'\\' => index += 1,
            Some(open) if byte == open => quote = None,
            Some(_) => {}
            None => match byte {
                b'"' | b'\'' | b'`' => quote = Some(byte),
                b'(' | b'{' | b'[' => depth += 1,
                b')' | b'}' | b']' => depth -= 1,
                _ if depth == 0 => {
                    if let Some(token) = tokens
                        .iter()
                        .find(|token| expr[index..].starts_with(**token))
                    {
                        found.push((index, token.len()));
                        index += token.len();
                        continue;
                    }
                }
                _ => {}
            },
        }
        index += 1;
    }
    found
}

fn alert_signals(expr: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut start = 0;
    for (at, length) in top_level(expr, &[" or ", " and ", " unless ", "\nor ", "\nand "]) {
        parts.push(&expr[start..at]);
        start = at + length;
    }
    parts.push(&expr[start..]);
    parts
        .into_iter()
        .map(|part| {
            let mut part = part.trim();
            if let Some(&(at, length)) = top_level(part, &["==", "!=", ">=", "<=", ">", "<"]).last()
                && part[at + length..].trim().parse::<f64>().is_ok()
            {
                part = part[..at].trim();
            }
            if let Some(inner) = part
                .strip_prefix("absent(")
                .and_then(|rest| rest.strip_suffix(')'))
            {
                part = inner.trim();
            }
            part.to_owned()
        })
        .collect()
}

#[test]
fn alert_signals_drop_thresholds_and_absent() {
    assert_eq!(alert_signals("job:x:rate5m > 0.05"), ["job:x:rate5m"]);
    assert_eq!(
        alert_signals(r#"up{job=~"a|b"} == 0"#),
        [r#"up{job=~"a|b"}"#]
    );
    assert_eq!(
        alert_signals("absent(up{job=\"a\"}) or absent(up{job=\"b\"})\n  or absent(up{job=\"c\"})"),
        [r#"up{job="a"}"#, r#"up{job="b"}"#, r#"up{job="c"}"#]
    );
    assert_eq!(
        alert_signals(r#"sum by (queue) (m{queue=~".+\\.dead"}) > 0"#),
        [r#"sum by (queue) (m{queue=~".+\\.dead"})"#]
    );
}
