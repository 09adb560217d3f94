//! `storefront`: the web shop, until SIGTERM.
use shop_config::ServiceConfig as _;
use storefront::INFO;
use storefront::config::StorefrontConfig;

#[tokio::main]
async fn main() {
    shop_host::binary::run(
        INFO,
        StorefrontConfig::from_env(),
        |config| &config.common,
        storefront::build,
    )
    .await;
}
