//! `user-service` serves the API; `user-service promote-admin NAME` makes an existing account
//! an admin, for operators who would otherwise need SQL; `user-service healthcheck` asks the
//! running instance whether it is ready (the container healthcheck).

use shop_config::ServiceConfig as _;
use shop_http::server;
use user_service::INFO;
use user_service::config::UserServiceConfig;
use user_service::repository::UsersRepository;

#[tokio::main]
async fn main() {
    if std::env::args().nth(1).as_deref() == Some("promote-admin") {
        server::install_crypto_provider();
        let outcome = match (UserServiceConfig::from_env(), std::env::args().nth(2)) {
            (Ok(config), Some(username)) => promote_admin(config, &username).await,
            (Err(error), _) => Err(error.into()),
            (_, None) => Err(anyhow::anyhow!(
                "usage: user-service promote-admin USERNAME"
            )),
        };
        if let Err(error) = outcome {
            eprintln!("{}: {error:#}", INFO.name);
            std::process::exit(1);
        }
        return;
    }
    shop_host::binary::run(
        INFO,
        UserServiceConfig::from_env(),
        |config| &config.common,
        user_service::build,
    )
    .await;
}

async fn promote_admin(config: UserServiceConfig, username: &str) -> anyhow::Result<()> {
    let pool = shop_postgres::connect(
        &config.database,
        config.common.app_profile,
        &user_service::migrations(),
    )
    .await?;
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
