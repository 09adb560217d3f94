//! The storefront's settings. Besides the common section and `NATS_URL` / `NATS_TIMEOUT_MS`:
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `USER_SERVICE_URL` | `http://127.0.0.1:8001` | register, log in, validate tokens |
//! | `PRODUCT_SERVICE_URL` | `http://127.0.0.1:8002` | the catalogue |
//! | `ORDER_SERVICE_URL` | `http://127.0.0.1:8003` | orders |
//! | `STOREFRONT_API_TIMEOUT_MS` | 5000 | the longest one API call may take |
//! | `STOREFRONT_CSRF_SECRET` | development only | key that binds form tokens to the browser; ≥ 32 bytes, the same on every replica |
//! | `STOREFRONT_SECURE_COOKIES` | `auto` | `auto` (Secure when the request came over TLS), `always`, `never` |
//! | `STOREFRONT_PAGE_SIZE` | 12 | products per catalogue page |
//! | `STOREFRONT_STREAM` | `ORDER_EVENTS` | the JetStream stream the bridge fills |
//! | `STOREFRONT_SUBJECT_PREFIX` | `events` | the bridge's subject prefix |
//! | `STOREFRONT_CONSUMER` | `storefront-<host name>` | this replica's durable consumer: unique per replica, stable across its restarts |
//! | `STOREFRONT_REPLAY_CAPACITY` | 4096 | recent events kept to replay to reconnecting pages |

use std::collections::BTreeSet;
use std::time::Duration;

use serde::Deserialize;
use service_runtime::auth::AuthConfig;
use service_runtime::config::keys::{section_keys, setting_names as names_of};
use service_runtime::config::secrets::{self, is_published};
use service_runtime::config::{CommonConfig, ConfigError, Profile, Secret, Settings};
use service_runtime::nats::NatsConfig;

pub const DEFAULT_PORT: u16 = 8006;
/// Good enough for a laptop; production refuses it.
const DEVELOPMENT_CSRF_SECRET: &str = "development-only-storefront-csrf-secret!";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecureCookies {
    Auto,
    Always,
    Never,
}

/// The storefront's own section.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct StorefrontSettings {
    pub product_service_url: String,
    pub order_service_url: String,
    pub storefront_api_timeout_ms: u64,
    pub storefront_csrf_secret: Option<Secret>,
    pub storefront_secure_cookies: SecureCookies,
    pub storefront_page_size: u8,
    pub storefront_stream: String,
    pub storefront_subject_prefix: String,
    pub storefront_consumer: Option<String>,
    pub storefront_replay_capacity: usize,
}

impl Default for StorefrontSettings {
    fn default() -> Self {
        Self {
            product_service_url: "http://127.0.0.1:8002".into(),
            order_service_url: "http://127.0.0.1:8003".into(),
            storefront_api_timeout_ms: 5_000,
            storefront_csrf_secret: None,
            storefront_secure_cookies: SecureCookies::Auto,
            storefront_page_size: 12,
            storefront_stream: "ORDER_EVENTS".into(),
            storefront_subject_prefix: "events".into(),
            storefront_consumer: None,
            storefront_replay_capacity: 4096,
        }
    }
}

impl StorefrontSettings {
    pub fn api_timeout(&self) -> Duration {
        Duration::from_millis(self.storefront_api_timeout_ms)
    }

    /// The durable consumer name: configured, or derived from the host name, which is what
    /// stays the same when a container or a Nomad allocation restarts.
    pub fn consumer_name(&self) -> String {
        let raw = self.storefront_consumer.clone().unwrap_or_else(|| {
            let host = std::env::var("HOSTNAME")
                .ok()
                .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
                .unwrap_or_else(|| "local".into());
            format!("storefront-{}", host.trim())
        });
        // Consumer names may not hold dots, wildcards or whitespace.
        raw.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    }

    fn csrf_secret(&self, profile: Profile) -> Result<Secret, ConfigError> {
        const KEY: &str = "STOREFRONT_CSRF_SECRET";
        match (&self.storefront_csrf_secret, profile) {
            (Some(secret), Profile::Production)
                if secret.expose() == DEVELOPMENT_CSRF_SECRET || is_published(secret.expose()) =>
            {
                Err(ConfigError::new(
                    KEY,
                    "is a value published in this repository; generate a random one",
                ))
            }
            (Some(secret), _) if secret.expose().len() < 32 => {
                Err(ConfigError::new(KEY, "must be at least 32 bytes"))
            }
            (Some(secret), _) => Ok(secret.clone()),
            (None, Profile::Development) => Ok(Secret::new(DEVELOPMENT_CSRF_SECRET)),
            (None, Profile::Production) => Err(ConfigError::new(
                KEY,
                "is required in production (the same value on every replica)",
            )),
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.storefront_page_size == 0 || self.storefront_page_size > 100 {
            return Err(ConfigError::new(
                "STOREFRONT_PAGE_SIZE",
                "must be between 1 and 100",
            ));
        }
        if self.storefront_replay_capacity == 0 {
            return Err(ConfigError::new(
                "STOREFRONT_REPLAY_CAPACITY",
                "must be positive",
            ));
        }
        if self.storefront_stream.is_empty() || self.storefront_subject_prefix.is_empty() {
            return Err(ConfigError::new(
                "STOREFRONT_STREAM",
                "stream and subject prefix must not be empty",
            ));
        }
        Ok(())
    }
}

/// Every environment variable the storefront reads.
pub fn setting_names() -> BTreeSet<String> {
    names_of(&[
        section_keys::<CommonConfig>(),
        section_keys::<AuthConfig>(),
        section_keys::<NatsConfig>(),
        section_keys::<StorefrontSettings>(),
    ])
}

#[derive(Debug, Clone)]
pub struct StorefrontConfig {
    pub common: CommonConfig,
    pub auth: AuthConfig,
    pub nats: NatsConfig,
    pub storefront: StorefrontSettings,
    pub csrf_secret: Secret,
}

impl StorefrontConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_settings(Settings::load(DEFAULT_PORT))
    }

    pub fn from_settings(settings: Settings) -> Result<Self, ConfigError> {
        let profile = settings.extract::<CommonConfig>()?.app_profile;
        // NATS_URL may carry a password; every other dependency is reached over HTTP.
        secrets::check_production(&settings, profile, &[])?;
        let settings = settings.with_default("port", DEFAULT_PORT);
        let common: CommonConfig = settings.extract()?;
        common.validate()?;
        let storefront: StorefrontSettings = settings.extract()?;
        storefront.validate()?;
        let csrf_secret = storefront.csrf_secret(common.app_profile)?;
        Ok(Self {
            common,
            auth: settings.extract()?,
            nats: settings.extract()?,
            storefront,
            csrf_secret,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(pairs: &[(&'static str, &str)]) -> Result<StorefrontConfig, ConfigError> {
        StorefrontConfig::from_settings(Settings::from_pairs(
            pairs.iter().map(|(key, value)| (*key, (*value).to_owned())),
        ))
    }

    #[test]
    fn development_runs_without_a_secret_production_does_not() {
        let config = load(&[("APP_PROFILE", "development")]).unwrap();
        assert_eq!(config.common.port, DEFAULT_PORT);
        assert_eq!(load(&[]).unwrap_err().key, "STOREFRONT_CSRF_SECRET");
        let development = [("STOREFRONT_CSRF_SECRET", DEVELOPMENT_CSRF_SECRET)];
        assert_eq!(
            load(&development).unwrap_err().key,
            "STOREFRONT_CSRF_SECRET"
        );
        let published = [(
            "STOREFRONT_CSRF_SECRET",
            "dev-only-storefront-csrf-secret-5c8e1b94d2a7",
        )];
        assert_eq!(load(&published).unwrap_err().key, "STOREFRONT_CSRF_SECRET");
        let short = [("STOREFRONT_CSRF_SECRET", "short")];
        assert_eq!(load(&short).unwrap_err().key, "STOREFRONT_CSRF_SECRET");
    }

    #[test]
    fn consumer_names_are_valid_nats_names() {
        let config = load(&[
            ("APP_PROFILE", "development"),
            ("STOREFRONT_CONSUMER", "web.1 *"),
        ])
        .unwrap();
        assert_eq!(config.storefront.consumer_name(), "web_1__");
    }

    #[test]
    fn bad_values_name_their_key() {
        for (key, value) in [
            ("STOREFRONT_PAGE_SIZE", "0"),
            ("STOREFRONT_SECURE_COOKIES", "sometimes"),
            ("STOREFRONT_REPLAY_CAPACITY", "0"),
        ] {
            let error = load(&[("APP_PROFILE", "development"), (key, value)]).unwrap_err();
            assert_eq!(error.key, key, "{key}={value}: {error}");
        }
    }
}
