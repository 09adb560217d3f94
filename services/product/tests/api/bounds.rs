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
/// name (as a restore does) starts its identities and row versions at 1 again, and its products
/// live under the same keys as the old ones. They must not be served the old database's product
/// or listing page, nor have their fills and tombstones refused by the old, higher versions.
#[tokio::test]
async fn a_recreated_database_never_meets_the_old_databases_cache_entries() {
    let users = test_support::UserServiceHandle::start().await;
    let (_, admin) = users.admin().await;
    let database = test_support::TestDatabase::new("products");
    let name = database.name.clone();
    let prefix = format!("test-{}:", uuid::Uuid::new_v4().simple());
    // Values stay fresh for the whole test, so only the incarnation can keep the old database's
    // entries from being served.
    let settings = [("PRODUCT_CACHE_FRESH_MS", "60000")];
    let before =
        test_support::ProductServiceHandle::start_on(&users, database, prefix.clone(), &settings)
            .await;
    let old = before.product_with_stock(&admin, "Old lamp", 5).await;
    // Version 3 in the old database: above the new database's first versions.
    for quantity in [6, 7] {
        let response = before
            .client
            .put(before.url(&format!("/products/{old}")))
            .bearer_auth(&admin)
            .json(&serde_json::json!({"quantity": quantity}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    for _ in 0..2 {
        assert_eq!(
            before.get_json(&format!("/products/{old}")).await["name"],
            "Old lamp"
        );
        assert_eq!(
            before.get_json("/products").await["items"][0]["name"],
            "Old lamp"
        );
    }
    let old_incarnation = before.state.caches.entries.incarnation().to_owned();
    let key = before.cache_key(old);
    let mut redis = redis_connection(REDIS_URL).await;
    let cached: String = redis.get(&key).await.unwrap();
    assert!(
        cached.starts_with(&format!("{old_incarnation}|3|")),
        "{cached}"
    );
    // The database is dropped and the same name created afresh, while the old database's
    // entries stay in Redis, as they would in production: the handle's own clean-up (which
    // deletes every key under the prefix) waits until the end of the test.
    let before = before.stop().await;
    drop(before.database);
    assert!(
        redis.exists::<_, bool>(&key).await.unwrap(),
        "the old database's entry outlives it"
    );

    let database = test_support::TestDatabase::named(name);
    let after =
        test_support::ProductServiceHandle::start_on(&users, database, prefix, &settings).await;
    let new_incarnation = after.state.caches.entries.incarnation().to_owned();
    assert_ne!(new_incarnation, old_incarnation);
    // Before any write moves the listing generation on, the first page is looked up under the
    // generation the old database's page was stored under.
    let empty = after.get_json("/products").await;
    assert_eq!(
        empty["items"],
        serde_json::json!([]),
        "the old database's page"
    );
    let new = after.product_with_stock(&admin, "New kettle", 7).await;
    assert_eq!(new, old, "identities start again, as versions do");
    assert_eq!(after.cache_key(new), key, "under the same key");
    for _ in 0..2 {
        let read = after.get_json(&format!("/products/{new}")).await;
        assert_eq!(read["name"], "New kettle");
        assert_eq!(read["quantity"], 7);
        let names: Vec<String> = after.get_json("/products").await["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["name"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(names, ["New kettle"], "the listing page");
    }
    let cached: String = redis.get(&key).await.unwrap();
    assert!(
        cached.starts_with(&format!("{new_incarnation}|1|")),
        "the new database's fill replaced the old database's higher version: {cached}"
    );
    let response = after
        .client
        .put(after.url(&format!("/products/{new}")))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"quantity": 8}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        redis.get::<_, String>(&key).await.unwrap(),
        format!("{new_incarnation}|2|"),
        "the new database's tombstone"
    );
    after.stop().await;
}
