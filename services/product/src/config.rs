//! The Product Service's settings. Besides the common, database, Redis (`REDIS_*`) and User
//! Service client (`USER_SERVICE_URL`, `AUTH_*`) sections it reads:
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `PRODUCT_CACHE_TTL_SECS` | 300 | lifetime of a cached product |
//! | `CACHE_KEY_PREFIX` | empty | put before `product:{id}`, to share one Redis between deployments |
//! | `SERVICE_TOKEN` | `dev-service-token` in development, none in production | credential of the internal routes |

use std::collections::BTreeSet;

use serde::Deserialize;
use service_runtime::auth::AuthConfig;
use service_runtime::config::keys::{section_keys, setting_names as names_of};
use service_runtime::config::{CommonConfig, ConfigError, Secret, Settings, secrets};
use service_runtime::db::DatabaseConfig;
use service_runtime::redis::RedisConfig;
use service_runtime::service_auth::ServiceTokenConfig;

pub const DEFAULT_PORT: u16 = 8002;
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/products";

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct CacheConfig {
    pub product_cache_ttl_secs: u64,
    pub cache_key_prefix: String,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            product_cache_ttl_secs: 300,
            cache_key_prefix: String::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ProductServiceConfig {
    pub common: CommonConfig,
    pub database: DatabaseConfig,
    pub redis: RedisConfig,
    pub auth: AuthConfig,
    pub cache: CacheConfig,
    /// The internal routes' credential; `None` shuts them (production without `SERVICE_TOKEN`).
    pub service_token: Option<Secret>,
}

/// Every environment variable the Product Service reads (deployment files are checked against
/// it).
pub fn setting_names() -> BTreeSet<String> {
    names_of(&[
        section_keys::<CommonConfig>(),
        section_keys::<DatabaseConfig>(),
        section_keys::<RedisConfig>(),
        section_keys::<AuthConfig>(),
        section_keys::<CacheConfig>(),
        section_keys::<ServiceTokenConfig>(),
    ])
}

impl ProductServiceConfig {
    /// Reads the process environment (and `CONFIG_FILE`).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_settings(Settings::load(DEFAULT_PORT))
    }

    pub fn from_settings(settings: Settings) -> Result<Self, ConfigError> {
        let profile = settings.extract::<CommonConfig>()?.app_profile;
        secrets::check_production(&settings, profile, &["DATABASE_URL"])?;
        let settings = settings
            .with_default("port", DEFAULT_PORT)
            .with_default("database_url", DEFAULT_DATABASE_URL);
        let common: CommonConfig = settings.extract()?;
        common.validate()?;
        let redis: RedisConfig = settings.extract()?;
        redis.validate()?;
        let cache: CacheConfig = settings.extract()?;
        if cache.product_cache_ttl_secs == 0 {
            return Err(ConfigError::new(
                "PRODUCT_CACHE_TTL_SECS",
                "must be positive",
            ));
        }
        let service_token = settings
            .extract::<ServiceTokenConfig>()?
            .resolve(common.app_profile)?;
        Ok(Self {
            database: settings.extract()?,
            auth: settings.extract()?,
            common,
            redis,
            cache,
            service_token,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(pairs: &[(&'static str, &str)]) -> Result<ProductServiceConfig, ConfigError> {
        ProductServiceConfig::from_settings(Settings::from_pairs(
            // Production requires the URL explicitly; a test that means to leave it out
            // builds its settings itself.
            std::iter::once((
                "DATABASE_URL",
                "postgres://postgres@127.0.0.1:5432/products".to_owned(),
            ))
            .chain(pairs.iter().map(|(key, value)| (*key, (*value).to_owned()))),
        ))
    }

    #[test]
    fn defaults_follow_the_spec() {
        let config = load(&[]).unwrap();
        assert_eq!(config.common.port, 8002);
        assert_eq!(config.cache.product_cache_ttl_secs, 300);
        assert!(
            config.service_token.is_none(),
            "production has no default credential"
        );
        let development = load(&[("APP_PROFILE", "development")]).unwrap();
        assert_eq!(
            development.service_token.unwrap().expose(),
            "dev-service-token"
        );
    }

    #[test]
    fn bad_values_name_their_key() {
        assert_eq!(
            load(&[("PRODUCT_CACHE_TTL_SECS", "0")]).unwrap_err().key,
            "PRODUCT_CACHE_TTL_SECS"
        );
        assert_eq!(
            load(&[("REDIS_URL", "http://nope")]).unwrap_err().key,
            "REDIS_URL"
        );
        assert_eq!(
            load(&[("REDIS_TIMEOUT_MS", "soon")]).unwrap_err().key,
            "REDIS_TIMEOUT_MS"
        );
        assert_eq!(
            load(&[("SERVICE_TOKEN", "dev-service-token")])
                .unwrap_err()
                .key,
            "SERVICE_TOKEN"
        );
    }
}
