//! `storefront`: the web shop, until SIGTERM.
use service_runtime::config::ServiceConfig as _;
use storefront::config::StorefrontConfig;
use storefront::{Application, INFO};

#[tokio::main]
async fn main() {
    service_runtime::binary::run(
        INFO,
        StorefrontConfig::from_env(),
        |config| &config.common,
        |config, shutdown| async move {
            let app = Application::build(config).await?;
            tracing::info!(address = %app.local_addr(), "storefront listening");
            app.run(shutdown).await;
            Ok(())
        },
    )
    .await;
}
