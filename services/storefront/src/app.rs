//! Wiring: from a configuration to a storefront handed to the runtime's service host, which
//! serves it, runs the live-updates consumer and shuts both down in order.

use std::sync::Arc;

use order_status_feed::{Hub, Source, Streams};
use shop_auth_client::AuthClient;
use shop_config::ServiceInfo;
use shop_host::{HostParts, ServiceHost, Tasks};
use shop_nats::{self, NatsCheck};
use shop_redis::{Redis, RedisCheck};
use shop_sessions::{SessionStore, Sessions};
use shop_telemetry::DependencyCheck;
use shop_telemetry::metrics::Metrics;

use crate::api::Api;
use crate::config::StorefrontConfig;
use crate::routes::{self, Shop};

pub const INFO: ServiceInfo = shop_config::service_info!();

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

/// Never waits for NATS, Redis or the APIs: pages say what is missing meanwhile. On shutdown
/// the open live streams end as soon as draining begins (so requests drain at once), the
/// consumer and the follower of ended sessions stop, and NATS is flushed and closed.
pub async fn build(config: StorefrontConfig) -> anyhow::Result<Application> {
    let settings = &config.storefront;
    let api = Api::new(
        &config.auth.user_service_url,
        &settings.product_service_url,
        &settings.order_service_url,
        settings.api_timeout(),
        config.service_token.clone(),
    )?;
    let metrics = Metrics::new();
    let redis = Redis::new(&config.redis)?;
    redis.register_metrics(&metrics);
    let store = SessionStore::new(redis.clone(), &settings.storefront_session_key_prefix);
    let sessions = Arc::new(Sessions {
        auth: AuthClient::new(&config.auth)?,
        store: store.clone(),
        csrf_secret: config.csrf_secret.clone(),
        secure: settings.storefront_secure_cookies,
    });
    let streams = Streams::new(
        settings.storefront_live_max_per_user,
        settings.storefront_live_max_connections,
    );
    let client = shop_nats::connect(&config.nats, INFO.name).await?;
    let jetstream = shop_nats::jetstream(client.clone(), config.nats.timeout());
    let hub = Hub::new(settings.storefront_replay_capacity);
    let tasks = Tasks::new();
    let shop = Arc::new(Shop {
        api,
        sessions,
        hub: hub.clone(),
        streams: streams.clone(),
        live_recheck: settings.live_recheck(),
        page_size: settings.storefront_page_size,
        shutdown: tasks.draining(),
        trusted_proxies: config.common.trusted_proxies.clone(),
    });
    let checks: Vec<Arc<dyn DependencyCheck>> = vec![
        Arc::new(NatsCheck {
            client: client.clone(),
            required: false,
        }),
        Arc::new(LiveCheck(hub.clone())),
        Arc::new(RedisCheck(redis)),
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
        metrics,
        common: &config.common,
        tasks,
    })
    .await?
    .intake("live-updates", {
        let hub = hub.clone();
        move |stop| order_status_feed::run(jetstream, source, hub, stop)
    })
    // Closes this replica's live streams of every session that ends on any replica.
    .intake("session-ends", move |stop| async move {
        store
            .follow_ended(stop, |session| streams.close_session(&session))
            .await;
    })
    .on_close(async move { shop_nats::close(&client, nats_timeout).await })
    .exposing(hub);
    Ok(host)
}
