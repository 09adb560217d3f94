//! What the cache and the metrics may keep: listing queries must not become Redis keys without
//! bound, nor made-up HTTP methods metric series, and a cache must not outlive its database.

use redis::AsyncCommands;
use test_support::REDIS_URL;

use crate::{Shop, redis_connection};

/// The listing-page keys this service has in the shared Redis.
async fn page_keys(shop: &Shop) -> Vec<String> {
    let mut redis = redis_connection(REDIS_URL).await;
    let pattern = format!("{}*products:page:*", shop.products.cache_key_prefix);
    let mut keys: Vec<String> = redis.keys(pattern).await.unwrap();
    keys.sort();
    keys
}

#[tokio::test]
async fn only_unfiltered_first_pages_become_cache_keys() {
    let shop = Shop::start().await;
    let id = shop
        .products
        .product_with_stock(&shop.admin, "Lamp", 5)
        .await;
    for n in 0..25 {
        for query in [
            format!("name=lamp{n}"),
            format!("min_price={n}.50"),
            format!("max_price={}", n + 100),
            format!("skip={}", n + 1),
            format!("cursor={}", id + n),
        ] {
            let page = shop.get_json(&format!("/products?{query}")).await;
            assert!(page["items"].is_array(), "{query}");
        }
    }
    assert_eq!(page_keys(&shop).await, Vec::<String>::new());

    // The first page, whatever its limit, is what is cached (and read back from the cache).
    for _ in 0..2 {
        assert_eq!(shop.get_json("/products").await["items"][0]["id"], id);
        assert_eq!(
            shop.get_json("/products?limit=5").await["items"][0]["id"],
            id
        );
    }
    assert_eq!(page_keys(&shop).await.len(), 2);
}

#[tokio::test]
async fn made_up_methods_add_no_metric_series() {
    let shop = Shop::start().await;
    let client = &shop.products.client;
    for n in 0..20 {
        let method = reqwest::Method::from_bytes(format!("BREW{n}").as_bytes()).unwrap();
        let response = client
            .request(method, shop.products.url("/products"))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_client_error(), "{}", response.status());
    }
    let text = shop.products.get("/metrics").await.text().await.unwrap();
    assert!(!text.contains("BREW"), "a made-up method became a label");
    let other = text
        .lines()
        .filter(|line| line.starts_with("http_requests_total{") && line.contains("OTHER"))
        .count();
    assert_eq!(other, 1, "{text}");
}

/// A Redis that outlives its database: the database dropped and created again under the same
/// name (as a restore does) starts its row versions at 1 again. Its products must not be
/// served from, or have their fills refused by, the entries the old database left.
#[tokio::test]
async fn a_recreated_database_never_meets_the_old_databases_cache_entries() {
    let users = test_support::UserServiceHandle::start().await;
    let (_, admin) = users.admin().await;
    let database = test_support::TestDatabase::new("products");
    let name = database.name.clone();
    let prefix = format!("test-{}:", uuid::Uuid::new_v4().simple());
    let before =
        test_support::ProductServiceHandle::start_on(&users, database, prefix.clone(), &[]).await;
    let old = before.product_with_stock(&admin, "Old lamp", 5).await;
    for _ in 0..2 {
        let read: serde_json::Value = before
            .get(&format!("/products/{old}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(read["name"], "Old lamp");
    }
    let old_key = before.cache_key(old);
    let mut redis = redis_connection(REDIS_URL).await;
    assert!(redis.exists::<_, bool>(&old_key).await.unwrap());
    // The database is dropped and the same name created afresh, while the old database's
    // entries stay in Redis, as they would in production: the handle's own clean-up (which
    // deletes every key under the prefix) waits until the end of the test.
    let before = before.stop().await;
    drop(before.database);
    assert!(
        redis.exists::<_, bool>(&old_key).await.unwrap(),
        "the old database's entry outlives it"
    );

    let database = test_support::TestDatabase::named(name);
    let after = test_support::ProductServiceHandle::start_on(&users, database, prefix, &[]).await;
    let new = after.product_with_stock(&admin, "New kettle", 7).await;
    assert_eq!(new, old, "identities start again, as versions do");
    for _ in 0..2 {
        let read: serde_json::Value = after
            .get(&format!("/products/{new}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(read["name"], "New kettle");
        assert_eq!(read["quantity"], 7);
    }
    assert!(
        redis.exists::<_, bool>(after.cache_key(new)).await.unwrap(),
        "filled"
    );
    after.stop().await;
}
