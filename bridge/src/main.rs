//! `event-bridge`: mirrors the order events from RabbitMQ onto NATS JetStream until SIGTERM.
use event_bridge::config::BridgeConfig;
use event_bridge::{Application, INFO};
use service_runtime::config::ServiceConfig as _;

#[tokio::main]
async fn main() {
    service_runtime::binary::run(
        INFO,
        BridgeConfig::from_env(),
        |config| &config.common,
        |config, shutdown| async move {
            let app = Application::build(config).await?;
            tracing::info!(address = %app.local_addr(), "event-bridge listening");
            app.run(shutdown).await;
            Ok(())
        },
    )
    .await;
}
