//! `order-service`: serves the Order API and publishes order events.
use order_service::INFO;
use order_service::config::OrderServiceConfig;
use service_runtime::config::ServiceConfig as _;

#[tokio::main]
async fn main() {
    service_runtime::binary::run(
        INFO,
        OrderServiceConfig::from_env(),
        |config| &config.common,
        order_service::build,
    )
    .await;
}
