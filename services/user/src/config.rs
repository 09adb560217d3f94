//! The User Service's settings: the common, database, Redis (where login and registration
//! attempts are counted for every replica) and service-credential (which lets the storefront
//! name the shopper it calls for) sections, and its own [`AuthConfig`]. The abuse limits are
//! strict by default and loose under the development profile, where one machine's test runs
//! are every client.
//! Every setting's default, range and meaning are in docs/configuration.md, generated from
//! these declarations.

use shop_config::{CommonConfig, ConfigError, Profile, Secret, ServiceConfig, secrets};
use shop_http::service_auth::ServiceTokenConfig;
use shop_postgres::DatabaseConfig;
use shop_redis::RedisConfig;

pub const DEFAULT_PORT: u16 = 8001;
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/users";

/// Used only under `APP_PROFILE=development`; refused in production.
const DEVELOPMENT_SECRET: &str = "development-only-jwt-secret-never-use-in-production";

shop_config::settings_section! {
    /// User Service: tokens and passwords
    pub struct AuthConfig {
        /// HS256 signing key of the access tokens, at least 32 bytes; a published example
        /// value is refused.
        #[shown("required in production; a development value in development")]
        pub jwt_secret: Option<Secret> = None;
        /// Access-token lifetime in seconds.
        #[range(1..)]
        pub jwt_ttl_secs: u64 = 3600;
        /// bcrypt work factor.
        #[range(4..=31)]
        pub bcrypt_cost: u32 = 12;
        /// Hashes computed at once on the blocking pool; a login storm queues there.
        #[range(1..)]
        #[shown("number of CPU cores")]
        pub bcrypt_max_concurrency: usize =
            std::thread::available_parallelism().map_or(2, usize::from);
        /// Hashes waiting for a thread; more get 503 with `Retry-After`.
        #[range(1..)]
        pub bcrypt_queue_capacity: usize = 64;
        /// Brute-force lockout: login attempts per username from one client address in the
        /// window before a 429 with `Retry-After` (a success forgets them). Keyed on the pair,
        /// so failures elsewhere never lock the owner out.
        #[range(1..)]
        pub login_max_failures: u32 = 5;
        /// Login attempts per client address, whatever the usernames, in the same window: a
        /// guesser spreading over many names, without making one NAT address one account.
        #[range(1..)]
        pub login_max_failures_per_client: u32 = 100;
        /// Window those attempts are counted in, in seconds.
        #[range(1..)]
        pub login_failure_window_secs: u64 = 300;
        /// Registrations per client address in `REGISTER_WINDOW_SECS`.
        #[range(1..)]
        pub register_max_per_client: u32 = 10;
        /// Window registrations are counted in, in seconds.
        #[range(1..)]
        pub register_window_secs: u64 = 3600;
        /// Redis key prefix of those counts, which every replica shares.
        pub throttle_key_prefix: String = "user-throttle:".into();
        /// With `BOOTSTRAP_ADMIN_PASSWORD`: this admin is created once at start, if absent.
        pub bootstrap_admin_username: Option<String> = None;
        /// The bootstrap admin's password (set both or neither).
        pub bootstrap_admin_password: Option<Secret> = None;
    }
}

shop_config::service_sections! {
    /// What the User Service reads, in the reference's order.
    #[derive(Debug)]
    pub struct UserSections {
        common: CommonConfig,
        database: DatabaseConfig,
        auth: AuthConfig,
        redis: RedisConfig,
        service_token: ServiceTokenConfig,
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
    /// The credential beside which a caller's `X-Client-IP` is believed; `None` believes none.
    pub service_token: Option<Secret>,
}

/// Loose enough that a test run from one machine never meets them.
const LOOSE_LIMIT: &str = "100000";

impl ServiceConfig for UserServiceConfig {
    const BINARY: &'static str = "user-service";
    const DEFAULT_PORT: u16 = DEFAULT_PORT;
    const DEFAULTS: &'static [(&'static str, &'static str)] =
        &[("database_url", DEFAULT_DATABASE_URL)];
    const DEVELOPMENT_DEFAULTS: &'static [(&'static str, &'static str)] = &[
        ("login_max_failures", LOOSE_LIMIT),
        ("login_max_failures_per_client", LOOSE_LIMIT),
        ("register_max_per_client", LOOSE_LIMIT),
    ];
    // Without Redis every replica counts attempts alone: the limits multiply by the replicas.
    const REQUIRED_IN_PRODUCTION: &'static [&'static str] = &["DATABASE_URL", "REDIS_URL"];

    type Sections = UserSections;

    fn assemble(sections: UserSections) -> Result<Self, ConfigError> {
        let UserSections {
            common,
            database,
            auth,
            redis,
            service_token,
        } = sections;
        let jwt_secret = checked_secret(common.app_profile, auth.jwt_secret.as_ref())?;
        redis.validate()?;
        let service_token = service_token.resolve(common.app_profile)?;
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
            service_token,
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
    use shop_config::Settings;

    use super::*;

    fn load(pairs: &[(&'static str, &str)]) -> Result<UserServiceConfig, ConfigError> {
        UserServiceConfig::from_settings(Settings::from_pairs(
            // Production requires the URLs explicitly; a test that means to leave one out
            // builds its settings itself.
            [
                (
                    "DATABASE_URL",
                    "postgres://postgres@127.0.0.1:5432/users".to_owned(),
                ),
                ("REDIS_URL", "redis://127.0.0.1:6379".to_owned()),
            ]
            .into_iter()
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

    const PRODUCTION: [(&str, &str); 1] =
        [("JWT_SECRET", "a-random-signing-key-of-32-bytes-or-more")];

    fn limits(config: &UserServiceConfig) -> (u32, u32, u32) {
        let auth = &config.auth;
        (
            auth.login_max_failures,
            auth.login_max_failures_per_client,
            auth.register_max_per_client,
        )
    }

    #[test]
    fn production_limits_are_strict_and_development_ones_loose() {
        assert_eq!(limits(&load(&PRODUCTION).unwrap()), (5, 100, 10));
        let development = load(&[("APP_PROFILE", "development")]).unwrap();
        assert_eq!(limits(&development), (100_000, 100_000, 100_000));
    }

    #[test]
    fn set_limits_win_in_both_profiles() {
        let set = [
            ("LOGIN_MAX_FAILURES", "3"),
            ("LOGIN_MAX_FAILURES_PER_CLIENT", "7"),
            ("REGISTER_MAX_PER_CLIENT", "2"),
        ];
        let production: Vec<_> = PRODUCTION.into_iter().chain(set).collect();
        assert_eq!(limits(&load(&production).unwrap()), (3, 7, 2));
        let development: Vec<_> = [("APP_PROFILE", "development")]
            .into_iter()
            .chain(set)
            .collect();
        assert_eq!(limits(&load(&development).unwrap()), (3, 7, 2));
    }

    #[test]
    fn production_requires_redis() {
        let settings = Settings::from_pairs([
            (
                "DATABASE_URL",
                "postgres://postgres@127.0.0.1:5432/users".to_owned(),
            ),
            ("JWT_SECRET", PRODUCTION[0].1.to_owned()),
        ]);
        let error = UserServiceConfig::from_settings(settings).unwrap_err();
        assert_eq!(error.key, "REDIS_URL");
    }

    #[test]
    fn the_service_token_defaults_in_development_only() {
        let development = load(&[("APP_PROFILE", "development")]).unwrap();
        assert!(development.service_token.is_some());
        assert!(load(&PRODUCTION).unwrap().service_token.is_none());
    }
}
