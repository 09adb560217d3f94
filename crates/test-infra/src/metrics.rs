//! Reading the Prometheus text a service serves at `/metrics`.

/// The value of `sample` (name with its labels, as printed) in an OpenMetrics text.
pub fn metric_value(text: &str, sample: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(sample)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}
