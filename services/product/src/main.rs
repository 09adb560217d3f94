//! `product-service` serves the catalogue API on port 8002.
use product_service::config::ProductServiceConfig;
use product_service::{Application, INFO};
use service_runtime::config::ServiceConfig as _;

#[tokio::main]
async fn main() {
    service_runtime::binary::run(
        INFO,
        ProductServiceConfig::from_env(),
        |config| &config.common,
        |config, shutdown| async move {
            let app = Application::build(config).await?;
            tracing::info!(address = %app.local_addr(), "product-service listening");
            app.run(shutdown).await;
            Ok(())
        },
    )
    .await;
}
