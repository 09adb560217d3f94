//! Settings: built-in defaults, then an optional TOML file named by `CONFIG_FILE`, then the
//! environment. Environment variables use the plain names operators expect (`PORT`,
//! `DATABASE_URL`, `OTEL_EXPORTER_OTLP_ENDPOINT`, …): the lower-cased variable name is the key.

pub mod keys;
pub mod secrets;

use std::fmt;
use std::net::IpAddr;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A loaded configuration source, from which each part of a service extracts its own section.
#[derive(Debug, Clone)]
pub struct Settings {
    figment: Figment,
}

impl Settings {
    /// Reads defaults, `CONFIG_FILE` (if set) and the environment. `default_port` is the
    /// service's documented port.
    pub fn load(default_port: u16) -> Self {
        Self::from_figment(
            Figment::new().merge(Serialized::default("port", default_port)),
            true,
        )
    }

    /// Like [`Settings::load`] but with explicit values instead of the process environment, so
    /// tests can start several differently configured services in one process.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, String)>) -> Self {
        let mut figment = Figment::new();
        for (key, value) in pairs {
            // Parsed the way figment parses environment values, so "8001" becomes a number.
            let value: figment::value::Value =
                value.parse().expect("parsing a value is infallible");
            figment = figment.merge(Serialized::default(&key.to_ascii_lowercase(), value));
        }
        Self::from_figment(figment, false)
    }

    fn from_figment(mut figment: Figment, read_environment: bool) -> Self {
        if read_environment {
            if let Ok(path) = std::env::var("CONFIG_FILE") {
                figment = figment.merge(Toml::file_exact(path));
            }
            // `raw` keeps names as operators type them; figment lower-cases them into keys.
            figment = figment.merge(Env::raw().filter(|key| !key.as_str().contains('.')));
        }
        Self { figment }
    }

    /// Adds a default for `key` below every other source (a service's own database URL, say).
    pub fn with_default(mut self, key: &str, value: impl Serialize) -> Self {
        self.figment = self.figment.join(Serialized::default(key, value));
        self
    }

    /// Extracts one typed section. The error is a single line naming the offending key.
    pub fn extract<T: DeserializeOwned>(&self) -> Result<T, ConfigError> {
        self.figment.extract().map_err(ConfigError::from)
    }
}

/// A configuration value that could not be used; its `Display` is one line naming the key.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {key}: {reason}")]
pub struct ConfigError {
    pub key: String,
    pub reason: String,
}

impl ConfigError {
    pub fn new(key: &str, reason: impl Into<String>) -> Self {
        Self {
            key: key.to_ascii_uppercase(),
            reason: reason.into(),
        }
    }
}

impl From<figment::Error> for ConfigError {
    fn from(error: figment::Error) -> Self {
        let key = error
            .path
            .iter()
            .filter(|part| part.as_str() != "default")
            .map(|part| part.to_ascii_uppercase())
            .collect::<Vec<_>>()
            .join(".");
        Self {
            key: if key.is_empty() { "(root)".into() } else { key },
            reason: error.kind.to_string(),
        }
    }
}

/// Which safety checks apply. `development` allows built-in secrets and is what
/// `cargo xtask up` runs; anything deployed runs `production`, the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    #[default]
    Production,
    Development,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Json,
    Pretty,
}

/// Settings every service reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct CommonConfig {
    /// `APP_PROFILE`: `production` (default) or `development`.
    pub app_profile: Profile,
    /// `HOST`: address to listen on.
    pub host: IpAddr,
    /// `PORT`: port to listen on.
    pub port: u16,
    /// `LOG_FORMAT`: `json` (default) or `pretty`.
    pub log_format: LogFormat,
    /// `LOG_LEVEL`: a tracing filter such as `info` or `info,tokio_postgres=warn`.
    pub log_level: String,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`: OTLP/HTTP collector base URL; unset turns export off.
    pub otel_exporter_otlp_endpoint: Option<String>,
    /// `OTEL_TRACES_SAMPLER_ARG`: fraction of new traces to sample, 0.0 to 1.0.
    pub otel_traces_sampler_arg: f64,
    /// `SHUTDOWN_TIMEOUT_SECS`: how long in-flight requests may take to drain on SIGTERM.
    pub shutdown_timeout_secs: u64,
    /// `MAX_BODY_BYTES`: larger request bodies are refused with 413.
    pub max_body_bytes: u64,
}

impl Default for CommonConfig {
    fn default() -> Self {
        Self {
            app_profile: Profile::Production,
            host: IpAddr::from([0, 0, 0, 0]),
            port: 0,
            log_format: LogFormat::Json,
            log_level: "info".into(),
            otel_exporter_otlp_endpoint: None,
            otel_traces_sampler_arg: 1.0,
            shutdown_timeout_secs: 10,
            max_body_bytes: 64 * 1024,
        }
    }
}

impl CommonConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(0.0..=1.0).contains(&self.otel_traces_sampler_arg) {
            return Err(ConfigError::new(
                "OTEL_TRACES_SAMPLER_ARG",
                "must be between 0.0 and 1.0",
            ));
        }
        if self.max_body_bytes == 0 {
            return Err(ConfigError::new("MAX_BODY_BYTES", "must be positive"));
        }
        Ok(())
    }
}

/// A value that must never reach a log line or an error message.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(**redacted**)")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Accept numbers too: figment parses an all-digit environment value as a number.
        let value = serde_json::Value::deserialize(deserializer)?;
        match value {
            serde_json::Value::String(text) => Ok(Self(text)),
            serde_json::Value::Number(number) => Ok(Self(number.to_string())),
            other => Err(serde::de::Error::custom(format!(
                "expected a string, found {other}"
            ))),
        }
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("**redacted**")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_value_names_the_key_in_one_line() {
        let settings = Settings::from_pairs([("PORT", "eighty".to_string())]);
        let error = settings.extract::<CommonConfig>().unwrap_err();
        let line = error.to_string();
        assert!(line.contains("PORT"), "{line}");
        assert!(!line.contains('\n'), "{line}");
    }

    #[test]
    fn secret_never_prints() {
        let secret = Secret::new("hunter2-hunter2");
        assert!(!format!("{secret:?}").contains("hunter2"));
    }

    #[test]
    fn sampler_ratio_out_of_range_is_rejected() {
        let settings = Settings::from_pairs([("OTEL_TRACES_SAMPLER_ARG", "2.5".to_string())]);
        let config: CommonConfig = settings.extract().unwrap();
        assert_eq!(
            config.validate().unwrap_err().key,
            "OTEL_TRACES_SAMPLER_ARG"
        );
    }
}
