//! Wiring: from a configuration to a storefront handed to the runtime's service host, which
//! serves it, runs the live-updates consumer and shuts both down in order.

use std::sync::Arc;

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

pub const INFO: ServiceInfo = service_runtime::service_info!();

/// A built storefront; tests look at its live-updates hub.
pub type Application = ServiceHost<Arc<Hub>>;

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

/// Never waits for NATS or the APIs: pages say what is missing meanwhile. On shutdown the open
/// live streams end as soon as draining begins (so requests drain at once), the consumer
/// stops, and NATS is flushed and closed.
pub async fn build(config: StorefrontConfig) -> anyhow::Result<Application> {
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
    let jetstream = nats::jetstream(client.clone(), config.nats.timeout());
    let hub = Hub::new(settings.storefront_replay_capacity);
    let tasks = Tasks::new();
    let shop = Arc::new(Shop {
        api,
        sessions,
        hub: hub.clone(),
        page_size: settings.storefront_page_size,
        shutdown: tasks.draining(),
    });
    let checks: Vec<Arc<dyn DependencyCheck>> = vec![
        Arc::new(NatsCheck {
            client: client.clone(),
            required: false,
        }),
        Arc::new(LiveCheck(hub.clone())),
    ];
    let source = Source {
        stream: settings.storefront_stream.clone(),
        subject_prefix: settings.storefront_subject_prefix.clone(),
        consumer: settings.consumer_name(),
    };
    let nats_timeout = config.nats.timeout();
    let host = ServiceHost::bind(HostParts {
        info: INFO,
        api: routes::router(shop),
        checks,
        metrics: Metrics::new(),
        common: &config.common,
        tasks,
    })
    .await?
    .intake("live-updates", {
        let hub = hub.clone();
        move |stop| live::run(jetstream, source, hub, stop)
    })
    .on_close(async move { nats::close(&client, nats_timeout).await })
    .exposing(hub);
    Ok(host)
}
