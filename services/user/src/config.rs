//! The User Service's settings. Besides the common and database sections it reads:
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `JWT_SECRET` | none (required in production) | HS256 signing key, at least 32 bytes |
//! | `JWT_TTL_SECS` | 3600 | access-token lifetime |
//! | `BCRYPT_COST` | 12 | bcrypt work factor (4–31) |
//! | `BCRYPT_MAX_CONCURRENCY` | cores | hashes computed at once |
//! | `BCRYPT_QUEUE_CAPACITY` | 64 | hashes waiting for a thread; more get 503 + `Retry-After` |
//! | `LOGIN_MAX_FAILURES` | 5 | login attempts per username and per client in the window (a success forgets them) |
//! | `LOGIN_FAILURE_WINDOW_SECS` | 300 | window those attempts are counted in |
//! | `REGISTER_MAX_PER_CLIENT` / `REGISTER_WINDOW_SECS` | 10 / 3600 | registrations per client address |
//! | `THROTTLE_KEY_PREFIX` | `user-throttle:` | Redis key prefix of those counts |
//! | `REDIS_URL`, `REDIS_*` | as the runtime's | where the counts are shared by every replica |
//! | `BOOTSTRAP_ADMIN_USERNAME` / `BOOTSTRAP_ADMIN_PASSWORD` | unset | admin created once, if absent |

use std::collections::BTreeSet;

use serde::Deserialize;
use service_runtime::config::keys::{section_keys, setting_names as names_of};
use service_runtime::config::{CommonConfig, ConfigError, Profile, Secret, Settings, secrets};
use service_runtime::db::DatabaseConfig;
use service_runtime::redis::RedisConfig;

pub const DEFAULT_PORT: u16 = 8001;
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/users";

/// Used only under `APP_PROFILE=development`; refused in production.
const DEVELOPMENT_SECRET: &str = "development-only-jwt-secret-never-use-in-production";

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    pub jwt_secret: Option<Secret>,
    pub jwt_ttl_secs: u64,
    pub bcrypt_cost: u32,
    pub bcrypt_max_concurrency: usize,
    pub bcrypt_queue_capacity: usize,
    pub login_max_failures: u32,
    pub login_failure_window_secs: u64,
    pub register_max_per_client: u32,
    pub register_window_secs: u64,
    pub throttle_key_prefix: String,
    pub bootstrap_admin_username: Option<String>,
    pub bootstrap_admin_password: Option<Secret>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            jwt_secret: None,
            jwt_ttl_secs: 3600,
            bcrypt_cost: 12,
            bcrypt_max_concurrency: std::thread::available_parallelism().map_or(2, usize::from),
            bcrypt_queue_capacity: 64,
            login_max_failures: 5,
            login_failure_window_secs: 300,
            register_max_per_client: 10,
            register_window_secs: 3600,
            throttle_key_prefix: "user-throttle:".into(),
            bootstrap_admin_username: None,
            bootstrap_admin_password: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct UserServiceConfig {
    pub common: CommonConfig,
    pub database: DatabaseConfig,
    pub auth: AuthConfig,
    /// Where login and registration attempts are counted for every replica.
    pub redis: RedisConfig,
    /// The signing key after the production checks.
    pub jwt_secret: Secret,
}

/// Every environment variable the User Service reads (deployment files are checked against it).
pub fn setting_names() -> BTreeSet<String> {
    names_of(&[
        section_keys::<CommonConfig>(),
        section_keys::<DatabaseConfig>(),
        section_keys::<AuthConfig>(),
        section_keys::<RedisConfig>(),
    ])
}

impl UserServiceConfig {
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
        let database: DatabaseConfig = settings.extract()?;
        let auth: AuthConfig = settings.extract()?;
        let jwt_secret = checked_secret(common.app_profile, auth.jwt_secret.as_ref())?;
        if !(4..=31).contains(&auth.bcrypt_cost) {
            return Err(ConfigError::new("BCRYPT_COST", "must be between 4 and 31"));
        }
        if auth.bcrypt_max_concurrency == 0 {
            return Err(ConfigError::new(
                "BCRYPT_MAX_CONCURRENCY",
                "must be positive",
            ));
        }
        if auth.jwt_ttl_secs == 0 {
            return Err(ConfigError::new("JWT_TTL_SECS", "must be positive"));
        }
        for (key, value) in [
            ("LOGIN_MAX_FAILURES", u64::from(auth.login_max_failures)),
            ("LOGIN_FAILURE_WINDOW_SECS", auth.login_failure_window_secs),
            (
                "REGISTER_MAX_PER_CLIENT",
                u64::from(auth.register_max_per_client),
            ),
            ("REGISTER_WINDOW_SECS", auth.register_window_secs),
            ("BCRYPT_QUEUE_CAPACITY", auth.bcrypt_queue_capacity as u64),
        ] {
            if value == 0 {
                return Err(ConfigError::new(key, "must be positive"));
            }
        }
        let redis: RedisConfig = settings.extract()?;
        redis.validate()?;
        if auth.bootstrap_admin_username.is_some() != auth.bootstrap_admin_password.is_some() {
            return Err(ConfigError::new(
                "BOOTSTRAP_ADMIN_PASSWORD",
                "set both BOOTSTRAP_ADMIN_USERNAME and BOOTSTRAP_ADMIN_PASSWORD, or neither",
            ));
        }
        Ok(Self {
            common,
            database,
            auth,
            redis,
            jwt_secret,
        })
    }
}

fn checked_secret(profile: Profile, secret: Option<&Secret>) -> Result<Secret, ConfigError> {
    match (profile, secret) {
        (Profile::Development, None) => Ok(Secret::new(DEVELOPMENT_SECRET)),
        (Profile::Development, Some(secret)) => Ok(secret.clone()),
        (Profile::Production, None) => Err(ConfigError::new(
            "JWT_SECRET",
            "is required (or set APP_PROFILE=development for a local run)",
        )),
        (Profile::Production, Some(secret)) => {
            if secrets::is_published(secret.expose()) {
                Err(ConfigError::new(
                    "JWT_SECRET",
                    "is a published example value; generate a random one",
                ))
            } else if secret.expose().len() < 32 {
                Err(ConfigError::new("JWT_SECRET", "must be at least 32 bytes"))
            } else {
                Ok(secret.clone())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(pairs: &[(&'static str, &str)]) -> Result<UserServiceConfig, ConfigError> {
        UserServiceConfig::from_settings(Settings::from_pairs(
            // Production requires the URL explicitly; a test that means to leave it out
            // builds its settings itself.
            std::iter::once((
                "DATABASE_URL",
                "postgres://postgres@127.0.0.1:5432/users".to_owned(),
            ))
            .chain(pairs.iter().map(|(key, value)| (*key, (*value).to_owned()))),
        ))
    }

    #[test]
    fn production_refuses_to_start_without_a_secret() {
        let error = load(&[]).unwrap_err();
        assert_eq!(error.key, "JWT_SECRET");
    }

    #[test]
    fn production_refuses_known_and_short_secrets() {
        assert_eq!(
            load(&[("JWT_SECRET", "changeme")]).unwrap_err().key,
            "JWT_SECRET"
        );
        assert_eq!(
            load(&[("JWT_SECRET", "short-but-new")]).unwrap_err().key,
            "JWT_SECRET"
        );
        assert_eq!(
            load(&[("JWT_SECRET", DEVELOPMENT_SECRET)]).unwrap_err().key,
            "JWT_SECRET"
        );
    }

    #[test]
    fn development_profile_runs_without_a_secret() {
        let config = load(&[("APP_PROFILE", "development")]).unwrap();
        assert_eq!(config.jwt_secret.expose(), DEVELOPMENT_SECRET);
        assert_eq!(config.common.port, DEFAULT_PORT);
    }

    #[test]
    fn bcrypt_cost_is_bounded() {
        let error = load(&[("APP_PROFILE", "development"), ("BCRYPT_COST", "3")]).unwrap_err();
        assert_eq!(error.key, "BCRYPT_COST");
    }

    #[test]
    fn unknown_profile_names_the_key() {
        let error = load(&[("APP_PROFILE", "staging")]).unwrap_err();
        assert_eq!(error.key, "APP_PROFILE");
    }
}
