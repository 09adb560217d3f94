//! `notification-service`: consumes order events and notifies until SIGTERM.
use notification_service::INFO;
use notification_service::config::NotificationConfig;
use shop_config::ServiceConfig as _;

#[tokio::main]
async fn main() {
    shop_host::binary::run(
        INFO,
        NotificationConfig::from_env(),
        |config| &config.common,
        notification_service::build,
    )
    .await;
}
