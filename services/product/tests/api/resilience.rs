//! Redis down or stalled: reads and writes keep working from PostgreSQL at little extra
//! latency, /health says so while staying ready, and Redis coming back is used again.

use std::time::Duration;

use redis::AsyncCommands;
use reqwest::Method;
use serde_json::{Value, json};
use test_infra::redis_server::PrivateRedis;
use test_support::wait_until;

use crate::{Shop, redis_connection};

const SETTINGS: [(&str, &str); 2] = [
    ("REDIS_TIMEOUT_MS", "100"),
    ("REDIS_BREAKER_OPEN_MS", "300"),
];

async fn shop_on(redis: &PrivateRedis) -> Shop {
    let url = redis.url();
    let mut settings: Vec<(&'static str, &str)> = SETTINGS.to_vec();
    settings.push(("REDIS_URL", &url));
    Shop::start_with(&settings).await
}

/// `product_cache_errors_total`: calls that tried Redis and failed, and calls the open
/// breaker skipped.
struct CacheErrors {
    tried: f64,
    skipped: f64,
}

async fn cache_errors(shop: &Shop) -> CacheErrors {
    let text = shop.products.get("/metrics").await.text().await.unwrap();
    let mut errors = CacheErrors {
        tried: 0.0,
        skipped: 0.0,
    };
    for line in text
        .lines()
        .filter(|line| line.starts_with("product_cache_errors_total{"))
    {
        let value: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        if line.contains(r#"kind="circuit_open""#) {
            errors.skipped += value;
        } else {
            errors.tried += value;
        }
    }
    errors
}

async fn health(shop: &Shop) -> (u16, Value) {
    let response = shop.products.get("/health").await;
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn redis_down_costs_little_and_comes_back_without_a_restart() {
    let mut redis = PrivateRedis::start().await;
    let shop = shop_on(&redis).await;
    let id = shop
        .products
        .product_with_stock(&shop.admin, "Torch", 3)
        .await;
    let path = format!("/products/{id}");
    shop.get_json(&path).await;
    let key = shop.products.cache_key(id);
    let mut direct = redis_connection(&redis.url()).await;
    assert!(direct.exists::<_, bool>(&key).await.unwrap());

    redis.kill().await;
    let before = cache_errors(&shop).await;
    // Each read fails the test if it hangs (the test client's 30 s timeout); how much Redis
    // costs them is counted below, not timed.
    for _ in 0..50 {
        assert_eq!(shop.get_json(&path).await["name"], "Torch");
    }
    // What makes Redis being down cheap is the breaker: of the 50 reads, only a few try Redis
    // (and wait for a timeout) before it opens; the rest skip it. Counted, not timed, so a
    // loaded machine cannot fail it.
    let after = cache_errors(&shop).await;
    let tried = after.tried - before.tried;
    assert!(
        (1.0..=10.0).contains(&tried),
        "reads that tried the dead Redis: {tried}"
    );
    assert!(after.skipped > before.skipped, "the breaker never opened");

    // Health is the background probe's last round: it sees Redis gone within about a second.
    let (status, report) = wait_until("health to see Redis down", Duration::from_secs(10), || {
        let shop = &shop;
        async move {
            let (status, report) = health(shop).await;
            (report["status"] == "degraded").then_some((status, report))
        }
    })
    .await;
    assert_eq!(status, 200);
    assert_eq!(report["dependencies"]["redis"]["status"], "down");
    assert_eq!(report["dependencies"]["database"]["status"], "up");
    let ready = shop.products.get("/health/ready").await;
    assert_eq!(ready.status(), 200, "Redis is optional");

    let response = shop
        .admin_json(Method::PUT, &path, &json!({"name": "Torch v2"}))
        .await;
    assert_eq!(response.status(), 200, "writes work without Redis");
    assert_eq!(shop.get_json(&path).await["name"], "Torch v2");

    redis.restart().await;
    let direct = redis_connection(&redis.url()).await;
    wait_until(
        "the cache to be used again",
        Duration::from_secs(10),
        || {
            let (shop, path, key) = (&shop, &path, &key);
            let mut direct = direct.clone();
            async move {
                shop.get_json(path).await;
                direct.exists::<_, bool>(key).await.unwrap().then_some(())
            }
        },
    )
    .await;
    wait_until("health to see Redis back", Duration::from_secs(10), || {
        let shop = &shop;
        async move { (health(shop).await.1["status"] == "healthy").then_some(()) }
    })
    .await;
    assert_eq!(shop.get_json(&path).await["name"], "Torch v2");
}

/// A stalled Redis keeps its (now stale) entry; the invalidation that timed out is replayed
/// before the cache is trusted again.
#[tokio::test]
async fn a_write_during_a_stall_is_not_undone_when_redis_thaws() {
    let redis = PrivateRedis::start().await;
    let shop = shop_on(&redis).await;
    let id = shop
        .products
        .product_with_stock(&shop.admin, "Radio", 3)
        .await;
    let path = format!("/products/{id}");
    shop.get_json(&path).await;
    shop.get_json("/products").await;

    redis.stall().await;
    // A stalled Redis answers nothing: every call gives up at its timeout (100/250 ms), and a
    // request that waited on Redis for good would trip the test client's 30 s timeout.
    let response = shop
        .admin_json(Method::PUT, &path, &json!({"name": "Radio v2"}))
        .await;
    assert_eq!(response.status(), 200);
    for _ in 0..10 {
        assert_eq!(shop.get_json(&path).await["name"], "Radio v2");
        assert_eq!(
            shop.get_json("/products").await["items"][0]["name"],
            "Radio v2"
        );
    }

    redis.resume().await;
    let key = shop.products.cache_key(id);
    let tombstone = format!("{}|2|", shop.products.state.caches.entries.incarnation());
    let direct = redis_connection(&redis.url()).await;
    wait_until("the deferred invalidation", Duration::from_secs(10), || {
        let (shop, path, key, tombstone) = (&shop, &path, &key, &tombstone);
        let mut direct = direct.clone();
        async move {
            assert_eq!(shop.get_json(path).await["name"], "Radio v2");
            let value: Option<String> = direct.get(key).await.unwrap();
            value.filter(|value| value.starts_with(tombstone)).map(drop)
        }
    })
    .await;
    for _ in 0..3 {
        assert_eq!(shop.get_json(&path).await["name"], "Radio v2");
        assert_eq!(
            shop.get_json("/products").await["items"][0]["name"],
            "Radio v2"
        );
    }
}

/// A writer cut off from Redis while another replica still reads it (a chaos run found this:
/// host-a's link to Redis was slow, its tombstones timed out, and host-b served the old price
/// from Redis after the write had returned). The write must not return before the other
/// replica stops serving what Redis holds: neither the product nor the listing page.
#[tokio::test]
async fn a_writer_cut_off_from_redis_leaves_no_stale_value_to_another_replica() {
    let proxy = test_infra::proxy::TcpProxy::start("127.0.0.1:6379".parse().unwrap()).await;
    let through_proxy = proxy.rewrite_url(test_support::REDIS_URL);
    // No local copies: what the reader serves comes from Redis or PostgreSQL. A freshness
    // lease long enough that the reader's values are still fresh when the write is made, so
    // only the writer's wait can keep them from being served afterwards.
    let both = [
        ("PRODUCT_LOCAL_COPY_MS", "0"),
        ("PRODUCT_CACHE_FRESH_MS", "3000"),
    ];
    let mut settings: Vec<(&'static str, &str)> = SETTINGS.to_vec();
    settings.extend(both);
    settings.push(("REDIS_URL", &through_proxy));
    let writer = Shop::start_with(&settings).await;
    let reader = test_support::ProductServiceHandle::start_on(
        &writer.users,
        writer.products.database.share(),
        writer.products.cache_key_prefix.clone(),
        &both,
    )
    .await;
    let id = writer
        .products
        .product_with_stock(&writer.admin, "Lamp", 3)
        .await;
    let path = format!("/products/{id}");
    let page = "/products?limit=20";
    // The reader caches the product and the first page in Redis.
    for _ in 0..2 {
        assert_eq!(reader.get(&path).await.status(), 200);
        assert_eq!(reader.get(page).await.status(), 200);
    }

    proxy.cut();
    let response = writer
        .admin_json(Method::PUT, &path, &json!({"name": "Lamp v2"}))
        .await;
    assert_eq!(response.status(), 200, "Redis is optional for writes");

    let product: Value = reader.get(&path).await.json().await.unwrap();
    assert_eq!(
        product["name"], "Lamp v2",
        "the product, after the write returned"
    );
    let listed: Value = reader.get(page).await.json().await.unwrap();
    let names: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|item| item["id"] == id)
        .filter_map(|item| item["name"].as_str())
        .collect();
    assert_eq!(
        names,
        ["Lamp v2"],
        "the listing page, after the write returned"
    );
    proxy.restore();
    reader.stop().await;
}
