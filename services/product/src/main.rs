//! `product-service` serves the catalogue API on port 8002.
use product_service::INFO;
use product_service::config::ProductServiceConfig;
use shop_config::ServiceConfig as _;

#[tokio::main]
async fn main() {
    shop_host::binary::run(
        INFO,
        ProductServiceConfig::from_env(),
        |config| &config.common,
        product_service::build,
    )
    .await;
}
