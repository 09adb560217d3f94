//! `order-service`: serves the Order API and publishes order events.
use order_service::INFO;
use order_service::config::OrderServiceConfig;
use shop_config::ServiceConfig as _;

#[tokio::main]
async fn main() {
    shop_host::binary::run(
        INFO,
        OrderServiceConfig::from_env(),
        |config| &config.common,
        order_service::build,
    )
    .await;
}
