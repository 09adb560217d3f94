//! Settings: built-in defaults, then an optional TOML file named by `CONFIG_FILE`, then the
//! environment. Environment variables use the plain names operators expect (`PORT`,
//! `DATABASE_URL`, `OTEL_EXPORTER_OTLP_ENDPOINT`, …): the lower-cased variable name is the key.
//!
//! - [`section`]: a section of settings declared once with [`settings_section!`](crate::settings_section):
//!   names, types, defaults, ranges checked while extracting, and meanings.
//! - [`section_set`]: the sections a service reads, declared once with
//!   [`service_sections!`](crate::service_sections): their list and their extraction.
//! - [`service`]: [`ServiceConfig`], the one loading path of every service, and its list of
//!   variable names.
//! - [`reference`]: docs/configuration.md rendered from those sections.
#![warn(missing_debug_implementations)]

pub mod backoff;
mod reference;
pub mod secrets;
mod section;
mod section_set;
mod service;
mod trusted_proxies;

pub use reference::{ServiceReference, markdown as reference_markdown, process_settings};
pub use section::{
    Section, SettingDoc, SettingValue, check_range, range_text, requirement, serde_name,
};
pub use section_set::{Deferred, SectionField, SectionRef, SectionSet};
pub use service::ServiceConfig;
pub use trusted_proxies::TrustedProxies;

use std::fmt;
use std::net::IpAddr;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
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

    /// Extracts one section and checks its bounds. The error is a single line naming the
    /// offending key.
    pub fn extract<T: Section>(&self) -> Result<T, ConfigError> {
        let section: T = self.figment.extract().map_err(ConfigError::from)?;
        section.check_bounds()?;
        Ok(section)
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

crate::setting_value_by_serde_name!(Profile, LogFormat);

crate::settings_section! {
    /// Common (every service)
    pub struct CommonConfig {
        /// `production` refuses built-in and weak secrets; `development` (what `cargo xtask up`
        /// runs) supplies development values for them.
        pub app_profile: Profile = Profile::Production;
        /// Address to listen on.
        pub host: IpAddr = IpAddr::from([0, 0, 0, 0]);
        /// Port to listen on.
        pub port: u16 = 0;
        /// `json` (one object per line, with `trace_id`/`span_id`) or `pretty` (for a terminal).
        pub log_format: LogFormat = LogFormat::Json;
        /// A tracing filter such as `info` or `info,tokio_postgres=warn`.
        pub log_level: String = "info".into();
        /// OTLP/HTTP collector base URL such as `http://jaeger:4318`; unset turns trace export
        /// off.
        pub otel_exporter_otlp_endpoint: Option<String> = None;
        /// Fraction of new traces sampled (a parent's decision is always followed).
        #[range(0.0..=1.0)]
        pub otel_traces_sampler_arg: f64 = 1.0;
        /// Seconds in-flight requests get to finish after SIGTERM.
        pub shutdown_timeout_secs: u64 = 10;
        /// Milliseconds the service keeps serving after SIGTERM while `/health/ready` answers
        /// 503, before it stops accepting: set it above the load balancer's health-check
        /// interval plus timeout, so that it takes the replica out of the rotation before any
        /// connection is refused (0: stop accepting at once).
        pub shutdown_drain_ms: u64 = 0;
        /// Larger request bodies are refused with 413.
        #[range(1..)]
        pub max_body_bytes: u64 = 64 * 1024;
        /// CIDR blocks of the gateways whose `X-Forwarded-For` names the client; empty trusts
        /// nobody (the peer address is the client).
        pub trusted_proxies: crate::TrustedProxies = Default::default();
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

/// Name and version of the running service, as reported by `/health` and on every trace.
#[derive(Debug, Clone, Copy)]
pub struct ServiceInfo {
    pub name: &'static str,
    pub version: &'static str,
    /// One sentence for the OpenAPI document (the crate's `description`).
    pub description: &'static str,
}

/// The [`ServiceInfo`] of the crate that invokes it: its package name and version, so that no
/// service writes its own name a second time.
#[macro_export]
macro_rules! service_info {
    () => {
        $crate::ServiceInfo {
            name: env!("CARGO_PKG_NAME"),
            version: env!("CARGO_PKG_VERSION"),
            description: env!("CARGO_PKG_DESCRIPTION"),
        }
    };
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
        let error = settings.extract::<CommonConfig>().unwrap_err();
        assert_eq!(error.key, "OTEL_TRACES_SAMPLER_ARG");
        assert_eq!(error.reason, "must be between 0 and 1");
    }
}
