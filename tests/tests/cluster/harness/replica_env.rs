//! The environment of one replica process: production profile, the cluster's generated
//! secrets, its own databases, exchange, queues and key prefixes, and timings short enough for
//! a test (a killed replica's claims and leases expire in seconds).

use gateway::Gateway;
use test_support::REDIS_URL;
use test_support::TestDatabase;

use super::{HEALTH_INTERVAL, Identity, NATS_URL, Role};

/// Connections per replica: the machine's PostgreSQL (100 at most) is shared by every test
/// running, two clusters of six pools each among them, and a burst of orders would otherwise
/// grow each pool to 16.
const DB_POOL_MAX_SIZE: &str = "3";

pub(super) fn settings(
    role: Role,
    replica: usize,
    port: u16,
    identity: &Identity,
    databases: &[TestDatabase],
    gateway: &Gateway,
) -> Vec<(&'static str, String)> {
    let internal = |name| {
        gateway
            .internal_url(name)
            .expect("internal entry point")
            .to_owned()
    };
    let mut env: Vec<(&'static str, String)> = vec![
        ("APP_PROFILE", "production".into()),
        ("HOST", "127.0.0.1".into()),
        ("PORT", port.to_string()),
        // The gateway connects from 127.0.0.1; nobody else may name a client.
        ("TRUSTED_PROXIES", "127.0.0.1/32".into()),
        ("SHUTDOWN_TIMEOUT_SECS", "5".into()),
        // Unready but serving for three health-check intervals after SIGTERM: the gateway
        // takes a stopping replica out before it refuses a connection.
        (
            "SHUTDOWN_DRAIN_MS",
            (3 * HEALTH_INTERVAL.as_millis()).to_string(),
        ),
        ("AMQP_TIMEOUT_MS", "2000".into()),
    ];
    env.extend(test_support::BUSY_MACHINE_TIMEOUTS.map(|(key, value)| (key, value.to_owned())));
    match role {
        Role::User => env.extend([
            ("DATABASE_URL", databases[0].url.clone()),
            ("DB_POOL_MAX_SIZE", DB_POOL_MAX_SIZE.into()),
            ("JWT_SECRET", identity.jwt_secret.clone()),
            ("BCRYPT_COST", "4".into()),
            // The login and registration limits are shared by the replicas through Redis.
            ("REDIS_URL", REDIS_URL.into()),
            ("THROTTLE_KEY_PREFIX", identity.redis_prefix()),
            ("BOOTSTRAP_ADMIN_USERNAME", identity.admin.0.clone()),
            ("BOOTSTRAP_ADMIN_PASSWORD", identity.admin.1.clone()),
            // The storefront names the shopper (X-Client-IP) beside this token.
            ("SERVICE_TOKEN", identity.service_token.clone()),
        ]),
        Role::Product => env.extend([
            ("DATABASE_URL", databases[1].url.clone()),
            ("DB_POOL_MAX_SIZE", DB_POOL_MAX_SIZE.into()),
            ("REDIS_URL", REDIS_URL.into()),
            ("CACHE_KEY_PREFIX", identity.redis_prefix()),
            ("USER_SERVICE_URL", internal("user")),
            ("SERVICE_TOKEN", identity.service_token.clone()),
        ]),
        Role::Order => env.extend([
            ("DATABASE_URL", databases[2].url.clone()),
            ("DB_POOL_MAX_SIZE", DB_POOL_MAX_SIZE.into()),
            ("USER_SERVICE_URL", internal("user")),
            ("PRODUCT_SERVICE_URL", internal("product")),
            ("SERVICE_TOKEN", identity.service_token.clone()),
            ("AMQP_URL", identity.broker_url.clone()),
            ("ORDER_EVENTS_EXCHANGE", identity.exchange.clone()),
            ("OUTBOX_POLL_INTERVAL_MS", "200".into()),
            ("RELEASE_RETRY_INTERVAL_MS", "200".into()),
            // Requests here take milliseconds; a key left by a killed replica frees up soon.
            ("IDEMPOTENCY_STALE_CLAIM_SECS", "3".into()),
            // The tests' one customer keeps many orders pending at once.
            ("MAX_PENDING_ORDERS_PER_CUSTOMER", "100000".into()),
            ("ORDER_WRITES_PER_USER", "1000000".into()),
        ]),
        Role::Notification => env.extend([
            ("AMQP_URL", identity.broker_url.clone()),
            ("NOTIFY_EXCHANGE", identity.exchange.clone()),
            ("NOTIFY_QUEUE", identity.notification_queue.clone()),
            ("NOTIFY_QUEUE_EXPIRES_MS", "300000".into()),
            ("NOTIFY_CHANNELS", "webhook".into()),
            ("NOTIFY_WEBHOOK_URL", identity.webhook_url.clone()),
            ("NOTIFY_WEBHOOK_SECRET", identity.service_token.clone()),
            ("NOTIFY_RETRY_DELAY_MS", "100".into()),
            ("NOTIFY_RETRY_MAX_DELAY_MS", "400".into()),
            // Replicas share their dedup record; a lease left by a killed replica expires soon.
            ("NOTIFY_DEDUP_STORE", "redis".into()),
            ("REDIS_URL", REDIS_URL.into()),
            ("NOTIFY_DEDUP_KEY_PREFIX", identity.redis_prefix()),
            ("NOTIFY_DEDUP_LEASE_MS", "3000".into()),
        ]),
        Role::Bridge => env.extend([
            ("AMQP_URL", identity.broker_url.clone()),
            ("NATS_URL", NATS_URL.into()),
            ("BRIDGE_EXCHANGE", identity.exchange.clone()),
            ("BRIDGE_QUEUE", identity.bridge_queue.clone()),
            ("BRIDGE_QUEUE_EXPIRES_MS", "300000".into()),
            ("BRIDGE_STREAM", identity.stream.clone()),
            ("BRIDGE_SUBJECT_PREFIX", identity.subject_prefix.clone()),
            ("BRIDGE_STREAM_STORAGE", "memory".into()),
            // NATS sets a memory stream's whole byte limit aside; the default 1 GiB would
            // exhaust the shared server's JetStream memory across test runs.
            ("BRIDGE_STREAM_MAX_BYTES", (64 * 1024 * 1024).to_string()),
        ]),
        Role::Storefront => env.extend([
            ("USER_SERVICE_URL", internal("user")),
            ("PRODUCT_SERVICE_URL", internal("product")),
            ("ORDER_SERVICE_URL", internal("order")),
            // Tells the User Service which shopper a login is for (X-Client-IP).
            ("SERVICE_TOKEN", identity.service_token.clone()),
            ("STOREFRONT_CSRF_SECRET", identity.csrf_secret.clone()),
            ("NATS_URL", NATS_URL.into()),
            ("STOREFRONT_STREAM", identity.stream.clone()),
            ("STOREFRONT_SUBJECT_PREFIX", identity.subject_prefix.clone()),
            // Each replica reads every event through a durable consumer of its own.
            (
                "STOREFRONT_CONSUMER",
                format!("cluster-{}-{replica}", &identity.id[..8]),
            ),
            // Sessions live in Redis, shared by the replicas.
            ("REDIS_URL", REDIS_URL.into()),
            (
                "STOREFRONT_SESSION_KEY_PREFIX",
                format!("{}storefront:", identity.redis_prefix()),
            ),
        ]),
    }
    env
}
