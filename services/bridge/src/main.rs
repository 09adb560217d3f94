//! `event-bridge`: mirrors the order events from RabbitMQ onto NATS JetStream until SIGTERM.
use event_bridge::INFO;
use event_bridge::config::BridgeConfig;
use shop_config::ServiceConfig as _;

#[tokio::main]
async fn main() {
    shop_host::binary::run(
        INFO,
        BridgeConfig::from_env(),
        |config| &config.common,
        event_bridge::build,
    )
    .await;
}
