//! The Order Service's settings. Besides the common, database (`DATABASE_URL`, …), auth
//! (`USER_SERVICE_URL`, `AUTH_CACHE_TTL_SECS`, …) and RabbitMQ (`AMQP_URL`, `AMQP_TIMEOUT_MS`)
//! sections it reads:
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `PRODUCT_SERVICE_URL` | `http://127.0.0.1:8002` | Product Service base URL |
//! | `PRODUCT_TIMEOUT_MS` | 2000 | longest a Product Service call may take |
//! | `SERVICE_TOKEN` | dev value in development, required in production | credential for the Product Service's internal routes |
//! | `ORDER_EVENTS_EXCHANGE` | `order_events` | topic exchange events go to |
//! | `OUTBOX_BATCH_SIZE` | 100 | events the relay publishes per round |
//! | `OUTBOX_POLL_INTERVAL_MS` | 1000 | fallback poll when no notification arrives |
//! | `RELEASE_RETRY_INTERVAL_MS` | 2000 | how often unreleased reservations are retried |

use std::collections::BTreeSet;

use serde::Deserialize;
use service_runtime::amqp::AmqpConfig;
use service_runtime::auth::AuthConfig;
use service_runtime::config::keys::{section_keys, setting_names as names_of};
use service_runtime::config::{CommonConfig, ConfigError, Secret, Settings, secrets};
use service_runtime::db::DatabaseConfig;
pub use service_runtime::service_auth::DEVELOPMENT_SERVICE_TOKEN;
use service_runtime::service_auth::ServiceTokenConfig;

pub const DEFAULT_PORT: u16 = 8003;
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/orders";

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct OrderSettings {
    pub product_service_url: String,
    pub product_timeout_ms: u64,
    pub service_token: Option<Secret>,
    pub order_events_exchange: String,
    pub outbox_batch_size: i64,
    pub outbox_poll_interval_ms: u64,
    pub release_retry_interval_ms: u64,
    /// A pending order older than this is cancelled and its stock released.
    pub pending_order_ttl_secs: u64,
    /// Pending orders one customer may hold at once.
    pub max_pending_orders_per_customer: i64,
    /// Published outbox rows are deleted after this long.
    pub outbox_retention_secs: u64,
    /// Idempotency keys are forgotten after this long.
    pub idempotency_key_retention_secs: u64,
    /// How often expiry and purging run.
    pub housekeeping_interval_ms: u64,
}

impl Default for OrderSettings {
    fn default() -> Self {
        Self {
            product_service_url: "http://127.0.0.1:8002".into(),
            product_timeout_ms: 2_000,
            service_token: None,
            order_events_exchange: "order_events".into(),
            outbox_batch_size: 100,
            outbox_poll_interval_ms: 1_000,
            release_retry_interval_ms: 2_000,
            pending_order_ttl_secs: 1_800,
            max_pending_orders_per_customer: 10,
            outbox_retention_secs: 7 * 24 * 3600,
            idempotency_key_retention_secs: 24 * 3600,
            housekeeping_interval_ms: 10_000,
        }
    }
}

#[derive(Debug, Clone)]
pub struct OrderServiceConfig {
    pub common: CommonConfig,
    pub database: DatabaseConfig,
    pub auth: AuthConfig,
    pub amqp: AmqpConfig,
    pub orders: OrderSettings,
    pub service_token: Secret,
}

/// Every environment variable the Order Service reads (deployment files are checked against it).
pub fn setting_names() -> BTreeSet<String> {
    names_of(&[
        section_keys::<CommonConfig>(),
        section_keys::<DatabaseConfig>(),
        section_keys::<AuthConfig>(),
        section_keys::<AmqpConfig>(),
        section_keys::<OrderSettings>(),
    ])
}

impl OrderServiceConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_settings(Settings::load(DEFAULT_PORT))
    }

    pub fn from_settings(settings: Settings) -> Result<Self, ConfigError> {
        let profile = settings.extract::<CommonConfig>()?.app_profile;
        secrets::check_production(&settings, profile, &["DATABASE_URL", "AMQP_URL"])?;
        let settings = settings
            .with_default("port", DEFAULT_PORT)
            .with_default("database_url", DEFAULT_DATABASE_URL);
        let common: CommonConfig = settings.extract()?;
        common.validate()?;
        let orders: OrderSettings = settings.extract()?;
        // The order side cannot work without the credential: unset in production is fatal.
        let service_token = ServiceTokenConfig {
            service_token: orders.service_token.clone(),
        }
        .resolve(common.app_profile)?
        .ok_or_else(|| {
            ConfigError::new(
                "SERVICE_TOKEN",
                "is required to reserve stock in the Product Service",
            )
        })?;
        for (key, value) in [
            ("PENDING_ORDER_TTL_SECS", orders.pending_order_ttl_secs),
            ("OUTBOX_RETENTION_SECS", orders.outbox_retention_secs),
            (
                "IDEMPOTENCY_KEY_RETENTION_SECS",
                orders.idempotency_key_retention_secs,
            ),
            ("HOUSEKEEPING_INTERVAL_MS", orders.housekeeping_interval_ms),
        ] {
            if value == 0 {
                return Err(ConfigError::new(key, "must be positive"));
            }
        }
        if orders.max_pending_orders_per_customer < 1 {
            return Err(ConfigError::new(
                "MAX_PENDING_ORDERS_PER_CUSTOMER",
                "must be positive",
            ));
        }
        if !(1..=1000).contains(&orders.outbox_batch_size) {
            return Err(ConfigError::new(
                "OUTBOX_BATCH_SIZE",
                "must be between 1 and 1000",
            ));
        }
        Ok(Self {
            database: settings.extract()?,
            auth: settings.extract()?,
            amqp: settings.extract()?,
            common,
            orders,
            service_token,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_needs_a_service_token() {
        let urls = [
            (
                "DATABASE_URL",
                "postgres://postgres@127.0.0.1:5432/orders".to_owned(),
            ),
            (
                "AMQP_URL",
                "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned(),
            ),
        ];
        let error = OrderServiceConfig::from_settings(Settings::from_pairs(urls)).unwrap_err();
        assert_eq!(error.key, "SERVICE_TOKEN");
    }

    #[test]
    fn production_needs_its_urls_explicitly() {
        let pairs = [(
            "SERVICE_TOKEN",
            "x8Kq2v9LmN4pR7tY1wZ3bC6dF0gH5jS2".to_owned(),
        )];
        let error = OrderServiceConfig::from_settings(Settings::from_pairs(pairs)).unwrap_err();
        assert_eq!(error.key, "DATABASE_URL");
    }

    #[test]
    fn development_uses_the_development_token() {
        let config = OrderServiceConfig::from_settings(Settings::from_pairs([(
            "APP_PROFILE",
            "development".to_owned(),
        )]))
        .unwrap();
        assert_eq!(config.service_token.expose(), DEVELOPMENT_SERVICE_TOKEN);
        assert_eq!(config.common.port, DEFAULT_PORT);
        assert_eq!(config.orders.order_events_exchange, "order_events");
    }
}
