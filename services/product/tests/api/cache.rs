//! The Redis cache: its key and TTL, hits, and no stale read after a write has returned, also
//! with readers racing the writer.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use redis::AsyncCommands;
use reqwest::Method;
use serde_json::{Value, json};
use test_support::{ProductServiceHandle, REDIS_URL};

use crate::{Shop, redis_connection};

async fn metric(shop: &Shop, name: &str) -> f64 {
    shop.products.served_metric(name).await
}

#[tokio::test]
async fn get_caches_under_product_id_with_the_configured_ttl() {
    // The Redis layer alone: no local copy in front of it.
    let shop = Shop::start_with(&[
        ("PRODUCT_CACHE_TTL_SECS", "120"),
        ("PRODUCT_LOCAL_COPY_MS", "0"),
        // The second read below is a hit however slow the machine is.
        ("PRODUCT_CACHE_FRESH_MS", "60000"),
    ])
    .await;
    let id = shop
        .products
        .product_with_stock(&shop.admin, "Kettle", 4)
        .await;
    // The spec's key, after the test's prefix; the database's incarnation is in the value.
    let key = shop.products.cache_key(id);
    assert_eq!(
        key,
        format!("{}product:{id}", shop.products.cache_key_prefix)
    );
    let incarnation = shop.products.state.caches.entries.incarnation().to_owned();
    assert!(
        !incarnation.is_empty() && !incarnation.contains('|'),
        "{incarnation}"
    );
    let mut redis = redis_connection(REDIS_URL).await;
    assert!(
        !redis.exists::<_, bool>(&key).await.unwrap(),
        "filled on read"
    );

    let first = shop.get_json(&format!("/products/{id}")).await;
    let cached: String = redis.get(&key).await.unwrap();
    let mut parts = cached.splitn(4, '|');
    let (of, version, stamp, json) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    assert_eq!(of, incarnation);
    assert_eq!(version, "1");
    assert!(
        stamp.parse::<i64>().is_ok(),
        "a stamp of Redis's clock: {stamp}"
    );
    assert_eq!(serde_json::from_str::<Value>(json).unwrap(), first);
    let ttl: i64 = redis.ttl(&key).await.unwrap();
    assert!((110..=120).contains(&ttl), "ttl {ttl}");

    let second = shop.get_json(&format!("/products/{id}")).await;
    assert_eq!(second, first);
    assert_eq!(metric(&shop, "product_cache_hits_total").await, 1.0);
    assert_eq!(metric(&shop, "product_cache_misses_total").await, 1.0);
    assert_eq!(metric(&shop, "products_viewed_total").await, 2.0);

    // A write leaves a tombstone at its version; the next read fills the new value.
    let response = shop
        .admin_json(
            Method::PUT,
            &format!("/products/{id}"),
            &json!({"quantity": 9}),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        redis.get::<_, String>(&key).await.unwrap(),
        format!("{incarnation}|2|")
    );
    assert_eq!(
        shop.get_json(&format!("/products/{id}")).await["quantity"],
        9
    );
    let refilled: String = redis.get(&key).await.unwrap();
    let rest = refilled
        .strip_prefix(&format!("{incarnation}|"))
        .unwrap_or_else(|| panic!("{refilled}"));
    let (version, rest) = rest.split_once('|').unwrap();
    assert_eq!(version, "2");
    assert!(
        rest.split_once('|').unwrap().1.starts_with('{'),
        "{refilled}"
    );

    let response = shop
        .admin_json(Method::DELETE, &format!("/products/{id}"), &json!({}))
        .await;
    assert_eq!(response.status(), 204);
    assert_eq!(
        redis.get::<_, String>(&key).await.unwrap(),
        format!("{incarnation}|{}|", product_service::cache::DELETED)
    );
    assert_eq!(
        shop.products.get(&format!("/products/{id}")).await.status(),
        404
    );
}

/// The classic race, forced: a reader reads version 1, stalls, the writer commits version 2 and
/// returns, then the reader tries to cache version 1. No later read may see version 1.
#[tokio::test]
async fn a_slow_reader_cannot_put_a_stale_row_back() {
    let shop = Arc::new(Shop::start().await);
    let id = shop
        .products
        .product_with_stock(&shop.admin, "Clock", 1)
        .await;
    let path = format!("/products/{id}");

    let pause = shop.products.state.caches.entries.pause_next_fill();
    let reader = tokio::spawn({
        let shop = shop.clone();
        let path = path.clone();
        async move { shop.get_json(&path).await }
    });
    tokio::time::timeout(Duration::from_secs(10), pause.reached.notified())
        .await
        .expect("the reader reaches the fill");

    let response = shop
        .admin_json(Method::PUT, &path, &json!({"name": "Clock v2"}))
        .await;
    assert_eq!(response.status(), 200);
    pause.resume.notify_one();
    let stale = reader.await.unwrap();
    assert_eq!(stale["name"], "Clock", "the reader began before the write");

    for _ in 0..3 {
        assert_eq!(shop.get_json(&path).await["name"], "Clock v2");
    }
}

/// Readers hammer one product while a writer changes it; a read that starts after a write
/// returned must see that write or a later one.
#[tokio::test]
async fn concurrent_readers_never_see_a_value_older_than_a_returned_write() {
    let shop = Shop::start().await;
    race_readers_against_writer(&shop.products, &shop.products, &shop.admin, 40).await;
}

/// The same race across replicas: the writer writes through one replica while the readers read
/// through another, each keeping local copies (a long window here, so that a write that did not
/// wait it out would be caught).
#[tokio::test]
async fn readers_of_another_replica_never_see_a_value_older_than_a_returned_write() {
    let window = [("PRODUCT_LOCAL_COPY_MS", "200")];
    let shop = Shop::start_with(&window).await;
    let second = ProductServiceHandle::start_on(
        &shop.users,
        shop.products.database.share(),
        shop.products.cache_key_prefix.clone(),
        &window,
    )
    .await;
    race_readers_against_writer(&shop.products, &second, &shop.admin, 12).await;
    assert!(
        second.served_metric("product_local_copy_hits_total").await > 0.0,
        "the reading replica served local copies"
    );
    second.stop().await;
}

/// `writes` updates of one product's quantity through `writer`, while 8 readers read it through
/// `reader`; every read must show at least the last quantity whose write had returned.
async fn race_readers_against_writer(
    writer: &ProductServiceHandle,
    reader: &ProductServiceHandle,
    admin: &str,
    writes: i64,
) {
    const READERS: usize = 8;
    let id = writer.product_with_stock(admin, "Racer", 0).await;
    let url = reader.url(&format!("/products/{id}"));
    let committed = Arc::new(AtomicI64::new(0));

    let readers: Vec<_> = (0..READERS)
        .map(|_| {
            let (client, url, committed) = (reader.client.clone(), url.clone(), committed.clone());
            tokio::spawn(async move {
                let mut reads = 0;
                loop {
                    let floor = committed.load(Ordering::SeqCst);
                    if floor >= writes {
                        return reads;
                    }
                    let response = client.get(&url).send().await.unwrap();
                    assert_eq!(response.status(), 200);
                    let seen = response.json::<Value>().await.unwrap()["quantity"]
                        .as_i64()
                        .unwrap();
                    assert!(
                        seen >= floor,
                        "read {seen} after write {floor} had returned"
                    );
                    reads += 1;
                }
            })
        })
        .collect();
    for quantity in 1..=writes {
        let response = writer
            .client
            .put(writer.url(&format!("/products/{id}")))
            .bearer_auth(admin)
            .json(&json!({"quantity": quantity}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        committed.store(quantity, Ordering::SeqCst);
    }
    let mut reads = 0;
    for reader in readers {
        reads += reader.await.unwrap();
    }
    assert!(
        reads > READERS,
        "the readers raced the writer ({reads} reads)"
    );
    let last: Value = reader
        .get(&format!("/products/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(last["quantity"], writes);
}

/// Listing pages are cached too; every kind of write that has returned shows in them.
#[tokio::test]
async fn listing_pages_reflect_every_returned_write() {
    // The second first-page read below is a hit however slow the machine is.
    let shop = Shop::start_with(&[("PRODUCT_CACHE_FRESH_MS", "60000")]).await;
    let id = shop
        .products
        .product_with_stock(&shop.admin, "Lamp", 5)
        .await;
    let listed = |page: Value| page["items"].as_array().unwrap().clone();
    assert_eq!(listed(shop.get_json("/products").await).len(), 1);
    assert_eq!(listed(shop.get_json("/products").await).len(), 1);
    assert_eq!(metric(&shop, "product_list_cache_hits_total").await, 1.0);

    shop.products
        .product_with_stock(&shop.admin, "Desk", 1)
        .await;
    assert_eq!(listed(shop.get_json("/products").await).len(), 2);
    let response = shop
        .admin_json(
            Method::PUT,
            &format!("/products/{id}"),
            &json!({"price": "7.25"}),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(listed(shop.get_json("/products").await)[0]["price"], "7.25");
    let reservation = shop.products.reserve(uuid::Uuid::new_v4(), id, 2).await;
    assert_eq!(reservation.status(), 201);
    assert_eq!(listed(shop.get_json("/products").await)[0]["quantity"], 3);
    let response = shop
        .admin_json(Method::DELETE, &format!("/products/{id}"), &json!({}))
        .await;
    assert_eq!(response.status(), 204);
    let remaining = listed(shop.get_json("/products").await);
    assert_eq!(remaining.len(), 1);
    assert_eq!(remaining[0]["name"], "Desk");
}

#[tokio::test]
async fn concurrent_list_readers_never_see_a_page_older_than_a_returned_write() {
    const WRITES: i64 = 30;
    let shop = Arc::new(Shop::start().await);
    let id = shop
        .products
        .product_with_stock(&shop.admin, "Racer", 0)
        .await;
    let committed = Arc::new(AtomicI64::new(0));
    let readers: Vec<_> = (0..6)
        .map(|_| {
            let (shop, committed) = (shop.clone(), committed.clone());
            tokio::spawn(async move {
                loop {
                    let floor = committed.load(Ordering::SeqCst);
                    if floor >= WRITES {
                        return;
                    }
                    let page = shop.get_json("/products?limit=5").await;
                    let seen = page["items"][0]["quantity"].as_i64().unwrap();
                    assert!(
                        seen >= floor,
                        "page showed {seen} after write {floor} returned"
                    );
                }
            })
        })
        .collect();
    for quantity in 1..=WRITES {
        let response = shop
            .admin_json(
                Method::PUT,
                &format!("/products/{id}"),
                &json!({"quantity": quantity}),
            )
            .await;
        assert_eq!(response.status(), 200);
        committed.store(quantity, Ordering::SeqCst);
    }
    for reader in readers {
        reader.await.unwrap();
    }
}

/// A test's cache keys (entries, pages and the listing generation, which never expires) go
/// with its service: the shared Redis does not collect them run after run.
#[tokio::test]
async fn a_stopped_test_service_leaves_no_key_in_the_shared_redis() {
    let shop = Shop::start().await;
    let id = shop
        .products
        .product_with_stock(&shop.admin, "Kettle", 2)
        .await;
    shop.get_json(&format!("/products/{id}")).await;
    shop.get_json("/products").await;
    let pattern = format!("{}*", shop.products.cache_key_prefix);
    let mut redis = redis_connection(REDIS_URL).await;
    let before: Vec<String> = redis::cmd("KEYS")
        .arg(&pattern)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(
        before.len() >= 2,
        "the test wrote its entry and the generation"
    );
    drop(shop);
    let after: Vec<String> = redis::cmd("KEYS")
        .arg(&pattern)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(after.is_empty(), "left behind: {after:?}");
}
