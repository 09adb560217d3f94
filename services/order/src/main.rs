//! `order-service`: serves the Order API and publishes order events.

use order_service::config::OrderServiceConfig;
use order_service::{Application, INFO};
use service_runtime::server;

#[tokio::main]
async fn main() {
    server::install_crypto_provider();
    let config = match OrderServiceConfig::from_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("{}: {error}", INFO.name);
            std::process::exit(2);
        }
    };
    if std::env::args().nth(1).as_deref() == Some(service_runtime::health::probe::COMMAND) {
        std::process::exit(service_runtime::health::probe::exit_code(
            config.common.port,
        ));
    }
    if let Err(error) = serve(config).await {
        eprintln!("{}: {error:#}", INFO.name);
        std::process::exit(1);
    }
}

async fn serve(config: OrderServiceConfig) -> anyhow::Result<()> {
    let telemetry = service_runtime::telemetry::init(INFO, &config.common)?;
    let app = Application::build(config).await?;
    tracing::info!(address = %app.local_addr(), "order-service listening");
    app.run(server::shutdown_signal()).await;
    tracing::info!("order-service stopped");
    telemetry.shutdown();
    Ok(())
}
