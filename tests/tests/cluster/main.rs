//! The production shape on one machine: two replicas of every service, each a process of its
//! own in the production profile, behind the real HAProxy loading the repository's gateway
//! routes (`gateway/haproxy/routes.cfg`). Every client request goes through the gateway, over
//! HTTPS with a certificate generated for the cluster.
//!
//! - [`harness`]: starts the cluster; replicas are this binary re-run on [`serve_replica`].
//! - [`abuse`]: an attacker on one address locks no owner out, through the API or the shop;
//!   logout ends a session everywhere.
//! - [`edge`]: what the gateway exposes and what it hides; client addresses and throttling.
//! - [`events`]: two relays and two bridges store every event once, in order per order.
//! - [`oversell`]: fifty buyers of the last ten units over two replicas get exactly ten orders.
//! - [`replica_loss`]: `kill -9` of one replica of each service loses no order or event and
//!   places none twice.
//! - [`rolling`]: a rolling restart of every replica under load fails no request.
//! - [`tls`]: the gateway serves HTTPS with the local certificate; plain HTTP redirects.

mod abuse;
mod edge;
mod events;
mod harness;
mod oversell;
mod replica_loss;
mod rolling;
mod tls;

use harness::{ROLE_VAR, Role};
use shop_config::ServiceConfig;
use tokio_util::sync::CancellationToken;

/// Not a test: the entry point of the replica processes the cluster starts (`ROLE_VAR` names
/// the service; its settings come from the environment, as in a container). Ignored so that a
/// normal run skips it; without `ROLE_VAR` it does nothing.
#[test]
#[ignore = "entry point of the cluster's replica processes"]
fn serve_replica() {
    let Some(role) = std::env::var(ROLE_VAR)
        .ok()
        .and_then(|name| Role::from_name(&name))
    else {
        return;
    };
    test_support::init_child_process();
    let runtime = tokio::runtime::Runtime::new().expect("a runtime for the replica");
    runtime.block_on(async move {
        let shutdown = shop_http::server::shutdown_signal();
        if let Err(error) = serve(role, shutdown).await {
            eprintln!("{} replica failed: {error:#}", role.name());
            std::process::exit(1);
        }
    });
}

async fn serve(role: Role, shutdown: CancellationToken) -> anyhow::Result<()> {
    match role {
        Role::User => {
            let config = user_service::config::UserServiceConfig::from_env()?;
            user_service::build(config).await?.run(shutdown).await;
        }
        Role::Product => {
            let config = product_service::config::ProductServiceConfig::from_env()?;
            product_service::build(config).await?.run(shutdown).await;
        }
        Role::Order => {
            let config = order_service::config::OrderServiceConfig::from_env()?;
            order_service::build(config).await?.run(shutdown).await;
        }
        Role::Notification => {
            let config = notification_service::config::NotificationConfig::from_env()?;
            notification_service::build(config)
                .await?
                .run(shutdown)
                .await;
        }
        Role::Bridge => {
            let config = event_bridge::config::BridgeConfig::from_env()?;
            event_bridge::build(config).await?.run(shutdown).await;
        }
        Role::Storefront => {
            let config = storefront::config::StorefrontConfig::from_env()?;
            storefront::build(config).await?.run(shutdown).await;
        }
    }
    Ok(())
}
