//! The `main` every service binary shares: configuration (a bad value exits 2 with one line),
//! the `healthcheck` subcommand the container images use, telemetry set up and flushed, and a
//! shutdown token fired by SIGTERM or SIGINT.

use std::future::Future;

use crate::ServiceHost;
use shop_config::ServiceInfo;
use shop_config::{CommonConfig, ConfigError};
use shop_http::health::probe;
use shop_http::server;

/// Runs a service binary. `build` makes the service from its configuration; the host then
/// serves it until SIGTERM or SIGINT. A build error is printed and exits 1.
pub async fn run<C, B, Fut, E>(
    info: ServiceInfo,
    config: Result<C, ConfigError>,
    common: fn(&C) -> &CommonConfig,
    build: B,
) where
    B: FnOnce(C) -> Fut,
    Fut: Future<Output = anyhow::Result<ServiceHost<E>>>,
    E: Send,
{
    server::install_crypto_provider();
    let config = match config {
        Ok(config) => config,
        Err(error) => {
            eprintln!("{}: {error}", info.name);
            std::process::exit(2);
        }
    };
    if std::env::args().nth(1).as_deref() == Some(probe::COMMAND) {
        std::process::exit(probe::exit_code(common(&config).port));
    }
    let telemetry = match shop_telemetry::init(info, common(&config)) {
        Ok(telemetry) => telemetry,
        Err(error) => {
            eprintln!("{}: {error:#}", info.name);
            std::process::exit(2);
        }
    };
    let shutdown = server::shutdown_signal();
    let outcome = match build(config).await {
        Ok(host) => {
            host.run(shutdown).await;
            Ok(())
        }
        Err(error) => Err(error),
    };
    match &outcome {
        Ok(()) => tracing::info!(service = info.name, "stopped"),
        Err(error) => tracing::error!(service = info.name, error = %format!("{error:#}"), "failed"),
    }
    telemetry.shutdown();
    if let Err(error) = outcome {
        eprintln!("{}: {error:#}", info.name);
        std::process::exit(1);
    }
}
