//! What anonymous requests can make the service keep: listing queries must not become Redis keys
//! without bound, nor made-up HTTP methods metric series.

use service_runtime::redis::redis::AsyncCommands;
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
