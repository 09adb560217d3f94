//! `user-service` serves the API; `user-service promote-admin NAME` makes an existing account
//! an admin, for operators who would otherwise need SQL; `user-service healthcheck` asks the
//! running instance whether it is ready (the container healthcheck).

use service_runtime::server;
use user_service::config::UserServiceConfig;
use user_service::repository::UsersRepository;
use user_service::{Application, INFO};

#[tokio::main]
async fn main() {
    server::install_crypto_provider();
    let config = match UserServiceConfig::from_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("{INFO_NAME}: {error}", INFO_NAME = INFO.name);
            std::process::exit(2);
        }
    };
    let outcome = match std::env::args().nth(1).as_deref() {
        None | Some("serve") => serve(config).await,
        Some(service_runtime::health::probe::COMMAND) => std::process::exit(
            service_runtime::health::probe::exit_code(config.common.port),
        ),
        Some("promote-admin") => match std::env::args().nth(2) {
            Some(username) => promote_admin(config, &username).await,
            None => Err(anyhow::anyhow!(
                "usage: user-service promote-admin USERNAME"
            )),
        },
        Some(other) => Err(anyhow::anyhow!(
            "unknown command {other:?}; commands: serve (default), healthcheck, promote-admin USERNAME"
        )),
    };
    if let Err(error) = outcome {
        eprintln!("{}: {error:#}", INFO.name);
        std::process::exit(1);
    }
}

async fn serve(config: UserServiceConfig) -> anyhow::Result<()> {
    let telemetry = service_runtime::telemetry::init(INFO, &config.common)?;
    let app = Application::build(config).await?;
    tracing::info!(address = %app.local_addr(), "user-service listening");
    app.run(server::shutdown_signal()).await;
    tracing::info!("user-service stopped");
    telemetry.shutdown();
    Ok(())
}

async fn promote_admin(config: UserServiceConfig, username: &str) -> anyhow::Result<()> {
    let pool = service_runtime::db::connect(&config.database, &user_service::migrations()).await?;
    if UsersRepository::new(pool)
        .promote_to_admin(username)
        .await?
    {
        println!("{username} is now an admin");
        Ok(())
    } else {
        Err(anyhow::anyhow!("no user named {username}"))
    }
}
