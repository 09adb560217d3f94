//! The Product Service's settings: the common, database, Redis, User Service client and
//! service credential sections, and its own [`CacheConfig`] and [`ReservationConfig`]. Every setting's default, range
//! and meaning are in docs/configuration.md, generated from these declarations.

use shop_auth_client::AuthConfig;
use shop_config::{CommonConfig, ConfigError, Secret, ServiceConfig};
use shop_http::service_auth::ServiceTokenConfig;
use shop_postgres::DatabaseConfig;
use shop_redis::RedisConfig;

pub const DEFAULT_PORT: u16 = 8002;
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/products";

shop_config::settings_section! {
    /// Product Service: cache
    pub struct CacheConfig {
        /// Lifetime of a cached product, in seconds (listing pages: at most 60 s).
        #[range(1..)]
        pub product_cache_ttl_secs: u64 = 300;
        /// How long a cached product or listing page is served after Redis's clock stamped
        /// the read that made it (milliseconds); an older one is read again from PostgreSQL. A
        /// write that could not invalidate Redis (Redis down, slow or cut off from this
        /// replica only) waits this long before it returns, so that no replica serves a value
        /// older than the write afterwards.
        #[range(1..=60000)]
        pub product_cache_fresh_ms: u64 = 500;
        /// Put before every cache key (`product:{id}`, …), to share one Redis between
        /// deployments; tests use one per service.
        pub cache_key_prefix: String = String::new();
        /// How long a replica serves its own copy of a product read from Redis or PostgreSQL
        /// (milliseconds; 0 = always ask Redis); the same on every replica. A product write
        /// returns once the replicas holding a copy have dropped it, or after this long if one
        /// does not answer, so no replica serves a value older than a returned write.
        #[range(0..=1000)]
        pub product_local_copy_ms: u64 = 10;
        /// Most products a replica keeps a local copy of at once.
        #[range(1..)]
        pub product_local_copy_capacity: usize = 10_000;
    }
}

shop_config::settings_section! {
    /// Product Service: reservations
    pub struct ReservationConfig {
        /// A reservation no order confirmed within this long is returned to stock (seconds).
        /// Keep it well above the longest an order takes to be placed.
        #[range(1..)]
        pub reservation_ttl_secs: u64 = 300;
        /// How often unconfirmed reservations are looked for (milliseconds).
        #[range(1..)]
        pub reservation_sweep_interval_ms: u64 = 30_000;
    }
}

shop_config::service_sections! {
    /// What the Product Service reads, in the reference's order.
    #[derive(Debug)]
    pub struct ProductSections {
        common: CommonConfig,
        database: DatabaseConfig,
        redis: RedisConfig,
        auth: AuthConfig,
        cache: CacheConfig,
        reservations: ReservationConfig,
        service_token: ServiceTokenConfig,
    }
}

#[derive(Debug, Clone)]
pub struct ProductServiceConfig {
    pub common: CommonConfig,
    pub database: DatabaseConfig,
    pub redis: RedisConfig,
    pub auth: AuthConfig,
    pub cache: CacheConfig,
    pub reservations: ReservationConfig,
    /// The internal routes' credential; `None` shuts them (production without `SERVICE_TOKEN`).
    pub service_token: Option<Secret>,
}

impl ServiceConfig for ProductServiceConfig {
    const BINARY: &'static str = "product-service";
    const DEFAULT_PORT: u16 = DEFAULT_PORT;
    const DEFAULTS: &'static [(&'static str, &'static str)] =
        &[("database_url", DEFAULT_DATABASE_URL)];
    const REQUIRED_IN_PRODUCTION: &'static [&'static str] = &["DATABASE_URL"];

    type Sections = ProductSections;

    fn assemble(sections: ProductSections) -> Result<Self, ConfigError> {
        let ProductSections {
            common,
            database,
            redis,
            auth,
            cache,
            reservations,
            service_token,
        } = sections;
        redis.validate()?;
        let service_token = service_token.resolve(common.app_profile)?;
        Ok(Self {
            common,
            database,
            redis,
            auth,
            cache,
            reservations,
            service_token,
        })
    }
}

#[cfg(test)]
mod tests {
    use shop_config::Settings;

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
