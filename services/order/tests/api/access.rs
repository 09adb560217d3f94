use serde_json::{Value, json};

use crate::{Shop, assert_problem};

#[tokio::test]
async fn every_route_needs_a_valid_token() {
    let shop = Shop::start().await;
    let response = shop.orders.get("/orders").await;
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    assert_problem(response, 401).await;
    let response = shop.orders.get_as("not-a-token", "/orders").await;
    assert_problem(response, 401).await;
    let response = shop
        .orders
        .place("a.b.c", &json!({"product_id": 1, "quantity": 1}), None)
        .await;
    assert_problem(response, 401).await;
}

#[tokio::test]
async fn another_users_order_does_not_exist_for_them() {
    let shop = Shop::start().await;
    let product = shop.product(10).await;
    let order = shop.order(product, 1).await;
    let path = format!("/orders/{}", order["id"]);
    let (_, stranger) = shop.users.customer().await;

    assert_problem(shop.orders.get_as(&stranger, &path).await, 404).await;
    let cancel = json!({"status": "cancelled"});
    assert_problem(shop.orders.put(&stranger, &path, &cancel).await, 404).await;
    assert_problem(shop.orders.delete(&stranger, &path).await, 404).await;
    let listed: Value = shop
        .orders
        .get_as(&stranger, "/orders")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"], json!([]));

    // The owner and an admin do see it; it was not changed by the stranger.
    let mine: Value = shop
        .orders
        .get_as(&shop.customer, &path)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["status"], "pending");
    assert_eq!(shop.orders.get_as(&shop.admin, &path).await.status(), 200);
}

#[tokio::test]
async fn the_order_list_is_the_callers_newest_first_in_pages() {
    let shop = Shop::start().await;
    let product = shop.product(20).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(shop.order(product, 1).await["id"].as_i64().unwrap());
    }
    // Another customer's order, placed last: the newest in the table, in nobody's list but theirs.
    let (_, other) = shop.users.customer().await;
    let others_order = shop.orders.place_order(&other, product, 1).await["id"]
        .as_i64()
        .unwrap();
    let theirs: Value = shop
        .orders
        .get_as(&other, "/orders")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(theirs["items"].as_array().unwrap().len(), 1, "{theirs}");
    assert_eq!(theirs["items"][0]["id"], others_order);

    let first: Value = shop
        .orders
        .get_as(&shop.customer, "/orders?limit=2")
        .await
        .json()
        .await
        .unwrap();
    let page_ids: Vec<i64> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_i64().unwrap())
        .collect();
    assert_eq!(page_ids, vec![ids[4], ids[3]]);
    let cursor = first["next_cursor"].as_i64().unwrap();
    let rest: Value = shop
        .orders
        .get_as(&shop.customer, &format!("/orders?limit=10&cursor={cursor}"))
        .await
        .json()
        .await
        .unwrap();
    let rest_ids: Vec<i64> = rest["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_i64().unwrap())
        .collect();
    assert_eq!(rest_ids, vec![ids[2], ids[1], ids[0]]);
    assert!(rest["next_cursor"].is_null());

    assert_problem(
        shop.orders.get_as(&shop.customer, "/orders?limit=0").await,
        422,
    )
    .await;
    assert_problem(
        shop.orders
            .get_as(&shop.customer, "/orders?limit=101")
            .await,
        422,
    )
    .await;
    assert_problem(
        shop.orders
            .get_as(&shop.customer, "/orders?limit=ten")
            .await,
        422,
    )
    .await;
    assert_problem(
        shop.orders
            .get_as(&shop.customer, "/orders?colour=red")
            .await,
        422,
    )
    .await;
    assert_problem(shop.orders.get_as(&shop.customer, "/orders/abc").await, 400).await;
}

/// The status in the API is the event contract's type; the document keeps the schema name it
/// always had, so generated clients see no renamed type.
#[tokio::test]
async fn openapi_documents_the_routes_and_the_status_schema() {
    let shop = Shop::start().await;
    let document: Value = shop.orders.get_json("/openapi.json").await;
    for (path, method) in [
        ("/orders", "post"),
        ("/orders", "get"),
        ("/orders/{id}", "get"),
        ("/orders/{id}", "put"),
        ("/orders/{id}", "delete"),
    ] {
        assert!(
            document["paths"][path][method].is_object(),
            "{method} {path}"
        );
    }
    let status = &document["components"]["schemas"]["order_service.domain.OrderStatus"];
    assert_eq!(
        status["enum"],
        json!(["pending", "confirmed", "shipped", "completed", "cancelled"]),
        "{status}"
    );
}

/// The auth client reuses a positive validation for `AUTH_CACHE_TTL_SECS`: a user deactivated
/// meanwhile keeps access for at most that long after the answer was cached, then gets 401
/// (the window docs/security.md describes).
#[tokio::test]
async fn a_deactivated_users_token_works_at_most_for_the_auth_cache_ttl() {
    let ttl = std::time::Duration::from_secs(3);
    let shop = Shop::start_with(&[("AUTH_CACHE_TTL_SECS", "3")]).await;
    let user = shop.users.register("soon-gone", "password-1").await;
    let token = shop.users.login("soon-gone", "password-1").await;
    // The answer is cached during this request: after `cached_at`, before `filled_by`.
    let cached_at = std::time::Instant::now();
    assert_eq!(shop.orders.get_as(&token, "/orders").await.status(), 200);
    let filled_by = std::time::Instant::now();

    shop.users
        .state
        .users
        .set_active(user["id"].as_i64().unwrap(), false)
        .await
        .unwrap();
    let inside_window = shop.orders.get_as(&token, "/orders").await.status();
    if cached_at.elapsed() < ttl {
        assert_eq!(inside_window, 200, "the cached answer is reused");
    }
    let refused_after = test_support::wait_until(
        "the token to be refused",
        test_support::HANG_GUARD,
        || async {
            let response = shop.orders.get_as(&token, "/orders").await;
            (response.status() == 401).then(|| (filled_by.elapsed(), response))
        },
    )
    .await;
    let (elapsed, response) = refused_after;
    assert_eq!(
        assert_problem(response, 401).await["detail"],
        "user is inactive"
    );
    // What this bound tells apart is the configured TTL (3 s) from the default one (30 s) or
    // none at all; its 20 s of slack are for a loaded machine, which stalls a poll for
    // milliseconds, not for tens of seconds.
    assert!(
        elapsed < ttl + std::time::Duration::from_secs(20),
        "accepted for {elapsed:?} after caching, TTL {ttl:?}"
    );
}
