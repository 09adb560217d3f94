//! Wiring: from a configuration to a running storefront. Kept thin on purpose: the runtime's
//! server does the serving, draining and common routes; this file only hands it the pages,
//! the health checks and the live-updates worker.

use std::sync::Arc;

use salvo::catcher::Catcher;
use service_runtime::ServiceInfo;
use service_runtime::auth::AuthClient;
use service_runtime::health::DependencyCheck;
use service_runtime::host::{HostParts, ServiceHost, Tasks};
use service_runtime::metrics::Metrics;
use service_runtime::nats::{self, NatsCheck};

use crate::api::Api;
use crate::config::StorefrontConfig;
use crate::live::{self, Hub, Source};
use crate::routes::{self, Shop};
use crate::session::Sessions;
use crate::views::errors;

pub const INFO: ServiceInfo = ServiceInfo {
    name: "storefront",
    version: env!("CARGO_PKG_VERSION"),
};

/// Health check of the live updates: optional, the shop works without them.
struct LiveCheck(Arc<Hub>);

#[salvo::async_trait]
impl DependencyCheck for LiveCheck {
    fn name(&self) -> &'static str {
        "live_updates"
    }

    fn required(&self) -> bool {
        false
    }

    async fn check(&self) -> Result<(), String> {
        if self.0.is_live() {
            Ok(())
        } else {
            Err("not consuming the order events".into())
        }
    }
}

/// Builds the storefront: HTTP bound to its port, NATS connecting in the background. Never
/// waits for NATS or the APIs: pages say what is missing meanwhile. The host exposes the hub
/// the pages' live updates come from (tests look at its state).
pub async fn build(config: StorefrontConfig) -> anyhow::Result<ServiceHost<Arc<Hub>>> {
    let settings = &config.storefront;
    let api = Api::new(
        &config.auth.user_service_url,
        &settings.product_service_url,
        &settings.order_service_url,
        settings.api_timeout(),
    )?;
    let sessions = Arc::new(Sessions {
        auth: AuthClient::new(&config.auth)?,
        csrf_secret: config.csrf_secret.clone(),
        secure: settings.storefront_secure_cookies,
    });
    let client = nats::connect(&config.nats, INFO.name).await?;
    let hub = Hub::new(settings.storefront_replay_capacity);
    let tasks = Tasks::new();
    let shop = Arc::new(Shop {
        api,
        sessions,
        hub: hub.clone(),
        page_size: settings.storefront_page_size,
        // Open live streams end when draining starts, so draining does not wait for them.
        shutdown: tasks.draining(),
    });
    let checks: Vec<Arc<dyn DependencyCheck>> = vec![
        Arc::new(NatsCheck {
            client: client.clone(),
            required: false,
        }),
        Arc::new(LiveCheck(hub.clone())),
    ];
    let host = ServiceHost::bind(HostParts {
        info: INFO,
        api: routes::router(shop),
        checks,
        metrics: Metrics::new(),
        common: &config.common,
        tasks,
    })
    .await?;
    let nats_timeout = config.nats.timeout();
    let jetstream = nats::jetstream(client.clone(), nats_timeout);
    let source = Source {
        stream: settings.storefront_stream.clone(),
        subject_prefix: settings.storefront_subject_prefix.clone(),
        consumer: settings.consumer_name(),
    };
    let live_hub = hub.clone();
    Ok(host
        .catcher(Catcher::new(errors::catcher))
        .intake("live-updates", move |token| {
            live::run(jetstream, source, live_hub, token)
        })
        .on_close(async move { nats::close(&client, nats_timeout).await })
        .exposing(hub))
}
