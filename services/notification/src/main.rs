//! `notification-service`: consumes order events and notifies until SIGTERM.
use notification_service::config::NotificationConfig;
use notification_service::{Application, INFO};
use service_runtime::config::ServiceConfig as _;

#[tokio::main]
async fn main() {
    service_runtime::binary::run(
        INFO,
        NotificationConfig::from_env(),
        |config| &config.common,
        |config, shutdown| async move {
            let app = Application::build(config).await?;
            tracing::info!(address = %app.local_addr(), "notification-service listening");
            app.run(shutdown).await;
            Ok(())
        },
    )
    .await;
}
