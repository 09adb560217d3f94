//! The storefront's settings: the common, User Service client, NATS, Redis (sessions) and
//! service credential sections, and its own [`StorefrontSettings`]. Every setting's default, range and meaning are in
//! docs/configuration.md, generated from these declarations.

use std::time::Duration;

use shop_auth_client::AuthConfig;
use shop_config::secrets::is_published;
use shop_config::{CommonConfig, ConfigError, Profile, Secret, ServiceConfig};
use shop_http::service_auth::ServiceTokenConfig;
use shop_nats::NatsConfig;
use shop_redis::RedisConfig;
use shop_sessions::SecureCookies;

pub const DEFAULT_PORT: u16 = 8006;
/// Good enough for a laptop; production refuses it.
const DEVELOPMENT_CSRF_SECRET: &str = "development-only-storefront-csrf-secret!";

shop_config::settings_section! {
    /// Storefront
    pub struct StorefrontSettings {
        /// Base URL of the Product Service (the catalogue).
        pub product_service_url: String = "http://127.0.0.1:8002".into();
        /// Base URL of the Order Service.
        pub order_service_url: String = "http://127.0.0.1:8003".into();
        /// The longest one API call may take (milliseconds).
        #[range(1..)]
        pub storefront_api_timeout_ms: u64 = 5_000;
        /// Key that binds form tokens to the browser; at least 32 bytes, the same on every
        /// replica.
        #[shown("required in production; a development value in development")]
        pub storefront_csrf_secret: Option<Secret> = None;
        /// `auto` (Secure when the request came over TLS), `always` or `never`.
        pub storefront_secure_cookies: SecureCookies = SecureCookies::Auto;
        /// Products per catalogue page.
        #[range(1..=100)]
        pub storefront_page_size: u8 = 12;
        /// The JetStream stream the bridge fills.
        pub storefront_stream: String = "ORDER_EVENTS".into();
        /// The bridge's subject prefix.
        pub storefront_subject_prefix: String = "events".into();
        /// This replica's durable consumer: unique per replica, stable across its restarts.
        #[shown("`storefront-<host name>`")]
        pub storefront_consumer: Option<String> = None;
        /// Recent events kept to replay to reconnecting pages.
        #[range(1..)]
        pub storefront_replay_capacity: usize = 4096;
        /// Prefix of the session keys and of the channel announcing ended sessions; the same on
        /// every replica of one shop.
        pub storefront_session_key_prefix: String = "storefront:".into();
        /// Open live-update streams one user may hold on one replica.
        #[range(1..)]
        pub storefront_live_max_per_user: usize = 8;
        /// Open live-update streams one replica serves at most.
        #[range(1..)]
        pub storefront_live_max_connections: usize = 1000;
        /// How often an open live stream checks that its session still exists (milliseconds):
        /// the backstop for an announcement of a logout that a replica missed.
        #[range(100..)]
        pub storefront_live_recheck_ms: u64 = 15_000;
    }
}

impl StorefrontSettings {
    pub fn api_timeout(&self) -> Duration {
        Duration::from_millis(self.storefront_api_timeout_ms)
    }

    pub fn live_recheck(&self) -> Duration {
        Duration::from_millis(self.storefront_live_recheck_ms)
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
        if self.storefront_stream.is_empty() || self.storefront_subject_prefix.is_empty() {
            return Err(ConfigError::new(
                "STOREFRONT_STREAM",
                "stream and subject prefix must not be empty",
            ));
        }
        Ok(())
    }
}

shop_config::service_sections! {
    /// What the storefront reads, in the reference's order.
    #[derive(Debug)]
    pub struct StorefrontSections {
        common: CommonConfig,
        auth: AuthConfig,
        nats: NatsConfig,
        redis: RedisConfig,
        service_token: ServiceTokenConfig,
        storefront: StorefrontSettings,
    }
}

#[derive(Debug, Clone)]
pub struct StorefrontConfig {
    pub common: CommonConfig,
    pub auth: AuthConfig,
    pub nats: NatsConfig,
    /// Where sessions live, shared by every replica.
    pub redis: RedisConfig,
    pub storefront: StorefrontSettings,
    pub csrf_secret: Secret,
    /// Vouches for the shopper's address sent to the User Service; `None` sends none.
    pub service_token: Option<Secret>,
}

impl ServiceConfig for StorefrontConfig {
    const BINARY: &'static str = "storefront";
    const DEFAULT_PORT: u16 = DEFAULT_PORT;
    // Without Redis nobody can log in, and the local default would be a different Redis from
    // the other replicas'.
    const REQUIRED_IN_PRODUCTION: &'static [&'static str] = &["REDIS_URL"];

    type Sections = StorefrontSections;

    fn assemble(sections: StorefrontSections) -> Result<Self, ConfigError> {
        let StorefrontSections {
            common,
            auth,
            nats,
            redis,
            service_token,
            storefront,
        } = sections;
        storefront.validate()?;
        let csrf_secret = storefront.csrf_secret(common.app_profile)?;
        redis.validate()?;
        let service_token = service_token.resolve(common.app_profile)?;
        Ok(Self {
            common,
            auth,
            nats,
            redis,
            storefront,
            csrf_secret,
            service_token,
        })
    }
}

#[cfg(test)]
mod tests {
    use shop_config::Settings;

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
        let redis = ("REDIS_URL", "redis://sessions:6379");
        assert_eq!(load(&[redis]).unwrap_err().key, "STOREFRONT_CSRF_SECRET");
        for secret in [
            DEVELOPMENT_CSRF_SECRET,
            "dev-only-storefront-csrf-secret-5c8e1b94d2a7",
            "short",
        ] {
            let error = load(&[redis, ("STOREFRONT_CSRF_SECRET", secret)]).unwrap_err();
            assert_eq!(error.key, "STOREFRONT_CSRF_SECRET", "{secret}");
        }
    }

    #[test]
    fn production_needs_its_redis() {
        let secret = "a-production-secret-of-thirty-two-bytes+";
        let without = [("STOREFRONT_CSRF_SECRET", secret)];
        assert_eq!(load(&without).unwrap_err().key, "REDIS_URL");
        let with = [
            ("STOREFRONT_CSRF_SECRET", secret),
            ("REDIS_URL", "redis://sessions:6379"),
        ];
        let config = load(&with).unwrap();
        assert_eq!(
            config.service_token, None,
            "no development token in production"
        );
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
            ("STOREFRONT_LIVE_MAX_PER_USER", "0"),
            ("REDIS_URL", "mysql://nope"),
        ] {
            let error = load(&[("APP_PROFILE", "development"), (key, value)]).unwrap_err();
            assert_eq!(error.key, key, "{key}={value}: {error}");
        }
    }
}
