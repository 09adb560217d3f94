//! `order-service`: serves the Order API and publishes order events.
use order_service::config::OrderServiceConfig;
use order_service::{Application, INFO};
use service_runtime::config::ServiceConfig as _;

#[tokio::main]
async fn main() {
    service_runtime::binary::run(
        INFO,
        OrderServiceConfig::from_env(),
        |config| &config.common,
        |config, shutdown| async move {
            let app = Application::build(config).await?;
            tracing::info!(address = %app.local_addr(), "order-service listening");
            app.run(shutdown).await;
            Ok(())
        },
    )
    .await;
}
