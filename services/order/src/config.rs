//! The Order Service's settings: the common, database, User Service client and RabbitMQ
//! sections, and its own [`OrderSettings`]. Every setting's default, range and meaning are in
//! docs/configuration.md, generated from these declarations.

use shop_amqp::AmqpConfig;
use shop_auth_client::AuthConfig;
use shop_config::{CommonConfig, ConfigError, Secret, ServiceConfig};
pub use shop_http::service_auth::DEVELOPMENT_SERVICE_TOKEN;
use shop_http::service_auth::ServiceTokenConfig;
use shop_postgres::DatabaseConfig;

pub const DEFAULT_PORT: u16 = 8003;
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/orders";

shop_config::settings_section! {
    /// Order Service: stock, events and the outbox
    pub struct OrderSettings {
        /// Base URL of the Product Service.
        pub product_service_url: String = "http://127.0.0.1:8002".into();
        /// The longest a Product Service call may take (milliseconds).
        #[range(1..)]
        pub product_timeout_ms: u64 = 2_000;
        /// Topic exchange order events are published to.
        pub order_events_exchange: String = "order_events".into();
        /// Events the outbox relay publishes per round.
        #[range(1..=1000)]
        pub outbox_batch_size: i64 = 100;
        /// Fallback poll of the outbox when no notification arrives (milliseconds).
        #[range(1..)]
        pub outbox_poll_interval_ms: u64 = 1_000;
        /// How often reservations whose release failed are retried (milliseconds).
        #[range(1..)]
        pub release_retry_interval_ms: u64 = 2_000;
        /// A pending order older than this is cancelled and its stock released (seconds).
        #[range(1..)]
        pub pending_order_ttl_secs: u64 = 1_800;
        /// Pending orders one customer may hold at once.
        #[range(1..)]
        pub max_pending_orders_per_customer: i64 = 10;
        /// Published outbox rows are deleted after this long (seconds).
        #[range(1..)]
        pub outbox_retention_secs: u64 = 7 * 24 * 3600;
        /// Idempotency keys are forgotten after this long (seconds).
        #[range(1..)]
        pub idempotency_key_retention_secs: u64 = 24 * 3600;
        /// How often expiry and purging run (milliseconds).
        #[range(1..)]
        pub housekeeping_interval_ms: u64 = 10_000;
        /// When an idempotency key claimed by a request that died (its replica killed) may be
        /// used again (seconds).
        #[range(1..)]
        pub idempotency_stale_claim_secs: u64 = 60;
        /// Order writes (placing an order, a customer's status change) one customer may make
        /// per `ORDER_WRITE_WINDOW_SECS`, counted across all replicas; more are refused with 429.
        /// Under `APP_PROFILE=development` the default is 1000000, so local test runs never
        /// meet it.
        #[range(1..)]
        pub order_writes_per_user: i64 = 30;
        /// The window of `ORDER_WRITES_PER_USER` (seconds).
        #[range(1..)]
        pub order_write_window_secs: u64 = 60;
    }
}

/// `ORDER_WRITES_PER_USER` under the development profile when not set: a load or test run from
/// one machine, all as a few users, must never meet the limit.
pub const DEVELOPMENT_ORDER_WRITES_PER_USER: i64 = 1_000_000;

shop_config::service_sections! {
    /// What the Order Service reads, in the reference's order.
    #[derive(Debug)]
    pub struct OrderSections {
        common: CommonConfig,
        database: DatabaseConfig,
        auth: AuthConfig,
        amqp: AmqpConfig,
        orders: OrderSettings,
        service_token: ServiceTokenConfig,
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

impl ServiceConfig for OrderServiceConfig {
    const BINARY: &'static str = "order-service";
    const DEFAULT_PORT: u16 = DEFAULT_PORT;
    const DEFAULTS: &'static [(&'static str, &'static str)] =
        &[("database_url", DEFAULT_DATABASE_URL)];
    const REQUIRED_IN_PRODUCTION: &'static [&'static str] = &["DATABASE_URL", "AMQP_URL"];
    const DEVELOPMENT_DEFAULTS: &'static [(&'static str, &'static str)] =
        &[("order_writes_per_user", "1000000")];

    type Sections = OrderSections;

    fn assemble(sections: OrderSections) -> Result<Self, ConfigError> {
        let OrderSections {
            common,
            database,
            auth,
            amqp,
            orders,
            service_token,
        } = sections;
        // The order side cannot work without the credential: unset in production is fatal.
        let service_token = service_token.resolve(common.app_profile)?.ok_or_else(|| {
            ConfigError::new(
                "SERVICE_TOKEN",
                "is required to reserve stock in the Product Service",
            )
        })?;
        Ok(Self {
            common,
            database,
            auth,
            amqp,
            orders,
            service_token,
        })
    }
}

#[cfg(test)]
mod tests {
    use shop_config::Settings;

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
                "amqp://shop-order:x8Kq2v9LmN4pR7tY@127.0.0.1:5672/%2f".to_owned(),
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
        assert_eq!(
            config.orders.order_writes_per_user,
            DEVELOPMENT_ORDER_WRITES_PER_USER
        );
    }

    #[test]
    fn the_write_rate_is_tight_in_production_and_explicit_values_win() {
        let production = [
            ("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/orders"),
            (
                "AMQP_URL",
                "amqp://shop-order:x8Kq2v9LmN4pR7tY@127.0.0.1:5672/%2f",
            ),
            ("SERVICE_TOKEN", "x8Kq2v9LmN4pR7tY1wZ3bC6dF0gH5jS2"),
        ];
        let load = |pairs: &[(&'static str, &str)]| {
            let pairs = pairs.iter().map(|(key, value)| (*key, (*value).to_owned()));
            OrderServiceConfig::from_settings(Settings::from_pairs(pairs)).unwrap()
        };
        assert_eq!(load(&production).orders.order_writes_per_user, 30);
        let explicit = [
            ("APP_PROFILE", "development"),
            ("ORDER_WRITES_PER_USER", "5"),
        ];
        assert_eq!(load(&explicit).orders.order_writes_per_user, 5);
    }
}
