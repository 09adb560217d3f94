//! `storefront`: the web shop, until SIGTERM.
use service_runtime::config::ServiceConfig as _;
use storefront::INFO;
use storefront::config::StorefrontConfig;

#[tokio::main]
async fn main() {
    service_runtime::binary::run(
        INFO,
        StorefrontConfig::from_env(),
        |config| &config.common,
        storefront::build,
    )
    .await;
}
