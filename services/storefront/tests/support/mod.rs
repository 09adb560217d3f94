//! The whole shop for a test: the real User, Product and Order Services and the event bridge
//! in-process on random ports (fresh databases, an exchange of their own, a private NATS), and
//! storefront replicas pointed at them.

#![allow(dead_code)]

pub mod sse;
pub mod webdriver;

use std::sync::Arc;
use std::time::Duration;

use order_status_feed::Hub;
use shop_config::ServiceConfig as _;
use shop_config::Settings;
use storefront::config::StorefrontConfig;
use test_infra::nats_server::PrivateNats;
use test_support::TestService;
use test_support::bridge::BridgeHandle;
use test_support::{
    OrderServiceHandle, ProductServiceHandle, UserServiceHandle, http_client, wait_until,
};

/// Generated per process, as every test credential: no test constant is a usable secret.
pub fn csrf_secret() -> String {
    static SECRET: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SECRET
        .get_or_init(|| {
            format!(
                "{}{}",
                uuid::Uuid::new_v4().simple(),
                uuid::Uuid::new_v4().simple()
            )
        })
        .clone()
}

/// A storefront running in this process; its parts are the live-updates hub.
pub type StorefrontHandle = TestService<Arc<Hub>>;

/// The shared Redis the storefronts keep sessions in.
pub const REDIS_URL: &str = "redis://127.0.0.1:6379";

/// A session key prefix of its own, so that tests' sessions and announcements stay apart.
pub fn session_prefix() -> String {
    format!("test-storefront-{}:", uuid::Uuid::new_v4().simple())
}

/// Starts a replica with the given settings on top of the defaults below.
pub async fn start_storefront(settings: &[(&'static str, String)]) -> StorefrontHandle {
    test_support::init();
    let mut pairs: Vec<(&'static str, String)> = vec![
        ("REDIS_URL", REDIS_URL.into()),
        ("STOREFRONT_SESSION_KEY_PREFIX", session_prefix()),
        ("HOST", "127.0.0.1".into()),
        ("PORT", "0".into()),
        ("STOREFRONT_CSRF_SECRET", csrf_secret()),
        ("NATS_TIMEOUT_MS", "2000".into()),
        ("SHUTDOWN_TIMEOUT_SECS", "5".into()),
        // Tests change roles and sessions under the cache's feet.
        ("AUTH_CACHE_TTL_SECS", "0".into()),
    ];
    // Without them a loaded machine read a fresh session as unknown (a Redis call past
    // production's 100 ms) and showed the shopper logged out.
    pairs.extend(test_support::BUSY_MACHINE_TIMEOUTS.map(|(key, value)| (key, value.to_owned())));
    pairs.extend(settings.iter().cloned());
    let config = StorefrontConfig::from_settings(Settings::from_pairs(pairs))
        .expect("test configuration is valid");
    let host = storefront::build(config)
        .await
        .expect("the storefront starts");
    let hub = host.exposed().clone();
    TestService::spawn(host, hub)
}

/// Waits until the replica consumes the order events.
pub async fn wait_live(storefront: &StorefrontHandle) {
    wait_until("live updates to run", Duration::from_secs(20), || async {
        storefront.is_live().then_some(())
    })
    .await;
}

/// Every service of the shop plus one storefront.
#[derive(Debug)]
pub struct System {
    pub users: UserServiceHandle,
    pub products: ProductServiceHandle,
    pub orders: OrderServiceHandle,
    pub nats: PrivateNats,
    pub bridge: BridgeHandle,
    pub storefront: StorefrontHandle,
    /// Shared by the replicas of this system, as in a deployment.
    pub session_prefix: String,
}

impl System {
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// Starts the system with `extra` settings for its storefront.
    pub async fn start_with(extra: &[(&'static str, String)]) -> Self {
        let users = UserServiceHandle::start().await;
        let products = ProductServiceHandle::start(&users).await;
        let orders = OrderServiceHandle::start(&users, &products).await;
        let nats = PrivateNats::start().await;
        // As deployed: the stream, and the storefronts' consumers on it, outlive a restart of
        // NATS. (The private server's store is the test's own.)
        let bridge = BridgeHandle::start_mirroring(
            &orders.exchange,
            &nats.url(),
            &[("BRIDGE_STREAM_STORAGE", "file")],
        )
        .await;
        let session_prefix = session_prefix();
        let mut system_settings =
            Self::settings_for(&users, &products, &orders, &nats, &session_prefix);
        system_settings.extend(extra.iter().cloned());
        let storefront = start_storefront(&system_settings).await;
        wait_live(&storefront).await;
        Self {
            users,
            products,
            orders,
            nats,
            bridge,
            storefront,
            session_prefix,
        }
    }

    fn settings_for(
        users: &UserServiceHandle,
        products: &ProductServiceHandle,
        orders: &OrderServiceHandle,
        nats: &PrivateNats,
        session_prefix: &str,
    ) -> Vec<(&'static str, String)> {
        vec![
            ("STOREFRONT_SESSION_KEY_PREFIX", session_prefix.to_owned()),
            ("USER_SERVICE_URL", users.base_url.clone()),
            ("PRODUCT_SERVICE_URL", products.base_url.clone()),
            ("ORDER_SERVICE_URL", orders.base_url.clone()),
            ("NATS_URL", nats.url()),
            (
                "STOREFRONT_CONSUMER",
                format!("storefront-{}", uuid::Uuid::new_v4().simple()),
            ),
        ]
    }

    /// The settings of this system's storefront, to start another replica (which then needs a
    /// `STOREFRONT_CONSUMER` of its own) or to restart one (the same consumer).
    pub fn storefront_settings(&self) -> Vec<(&'static str, String)> {
        Self::settings_for(
            &self.users,
            &self.products,
            &self.orders,
            &self.nats,
            &self.session_prefix,
        )
    }
}

/// A client that does not follow redirects, to look at them.
pub fn no_redirect_client() -> reqwest::Client {
    let _ = http_client();
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// The CSRF cookie and the form token of `page` for a browser holding `session` (if any).
pub async fn form_token(
    storefront: &StorefrontHandle,
    page: &str,
    session: Option<&str>,
) -> (String, String) {
    let mut request = no_redirect_client().get(storefront.url(page));
    if let Some(session) = session {
        request = request.header("cookie", format!("sf_session={session}"));
    }
    let response = request.send().await.expect("the page answers");
    let csrf_cookie = set_cookie(&response, "sf_csrf").expect("a new browser gets a CSRF cookie");
    let page = response.text().await.expect("a page");
    let start = page
        .find(r#"name="csrf" value=""#)
        .expect("a form with a CSRF token")
        + 19;
    (csrf_cookie, page[start..start + 64].to_owned())
}

/// Logs in through the storefront's form, as a browser would; returns the session cookie's
/// value.
pub async fn storefront_session(
    storefront: &StorefrontHandle,
    username: &str,
    password: &str,
) -> String {
    let (csrf_cookie, token) = form_token(storefront, "/login", None).await;
    let response = no_redirect_client()
        .post(storefront.url("/login"))
        .header("cookie", format!("sf_csrf={csrf_cookie}"))
        .form(&[
            ("username", username),
            ("password", password),
            ("csrf", &token),
        ])
        .send()
        .await
        .expect("the login form answers");
    assert_eq!(response.status(), 303, "{username} logs in");
    set_cookie(&response, "sf_session").expect("a session cookie")
}

/// The value `response` sets the cookie `name` to, if it sets it.
pub fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    let prefix = format!("{name}=");
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find_map(|line| line.strip_prefix(prefix.as_str()))
        .and_then(|rest| rest.split(';').next())
        .map(str::to_owned)
}

/// A connection to the shared Redis, to look at what the storefront keeps there.
pub async fn redis() -> redis::aio::MultiplexedConnection {
    redis::Client::open(REDIS_URL)
        .expect("a valid URL")
        .get_multiplexed_async_connection()
        .await
        .expect("the shared Redis runs")
}
