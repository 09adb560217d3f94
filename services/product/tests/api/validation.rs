//! Every kind of bad input is a 4xx problem+json naming what is wrong, never a 5xx.

use reqwest::Method;
use serde_json::{Value, json};

use crate::{Shop, assert_problem, assert_problem_type};

async fn field_of(shop: &Shop, method: Method, path: &str, body: &Value) -> String {
    let response = shop.admin_json(method, path, body).await;
    let problem = assert_problem_type(response, 422, "urn:problem:validation").await;
    problem["errors"][0]["field"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn invalid_products_are_refused_with_the_field_named() {
    let shop = Shop::start().await;
    let valid = json!({"name": "Pen", "description": "", "price": "1.50", "quantity": 3});
    let with = |field: &str, value: Value| {
        let mut body = valid.clone();
        body[field] = value;
        body
    };
    let cases = [
        (with("price", json!(0)), "price"),
        (with("price", json!("0.00")), "price"),
        (with("price", json!(-1)), "price"),
        (with("price", json!("-0.01")), "price"),
        (with("price", json!(19.999)), "price"),
        (with("price", json!("1.005")), "price"),
        (with("price", json!("10000000000.00")), "price"),
        (with("price", json!("twelve")), "price"),
        (with("price", json!(true)), "price"),
        (with("price", Value::Null), "price"),
        (with("quantity", json!(-1)), "quantity"),
        (with("quantity", json!("10")), "quantity"),
        (with("quantity", json!(1.5)), "quantity"),
        (with("quantity", json!(1_000_000_001)), "quantity"),
        (with("name", json!("")), "name"),
        (with("name", json!("   ")), "name"),
        (with("name", json!("x".repeat(10 * 1024))), "name"),
        (with("name", json!("nul\u{0}byte")), "name"),
        (with("name", json!(42)), "name"),
        (with("description", json!("d".repeat(5_001))), "description"),
        (with("description", json!(["a"])), "description"),
    ];
    for (body, field) in cases {
        assert_eq!(
            field_of(&shop, Method::POST, "/products", &body).await,
            field,
            "{body}"
        );
    }
    let mut missing = valid.clone();
    missing.as_object_mut().unwrap().remove("name");
    assert_eq!(
        field_of(&shop, Method::POST, "/products", &missing).await,
        ""
    );
    let unknown = with("colour", json!("red"));
    assert_eq!(
        field_of(&shop, Method::POST, "/products", &unknown).await,
        "colour"
    );

    // Several bad fields are reported together.
    let response = shop
        .admin_json(
            Method::POST,
            "/products",
            &json!({"name": "", "price": "0", "quantity": -5}),
        )
        .await;
    let problem = assert_problem(response, 422).await;
    assert_eq!(problem["errors"].as_array().unwrap().len(), 3);

    let listing = shop.get_json("/products").await;
    assert!(
        listing["items"].as_array().unwrap().is_empty(),
        "nothing stored"
    );
}

#[tokio::test]
async fn invalid_updates_are_refused() {
    let shop = Shop::start().await;
    let id = shop
        .products
        .product_with_stock(&shop.admin, "Cup", 2)
        .await;
    let path = format!("/products/{id}");
    for (body, field) in [
        (json!({}), ""),
        (json!({"price": null}), "price"),
        (json!({"name": null}), "name"),
        (json!({"quantity": -3}), "quantity"),
        (json!({"price": "0"}), "price"),
        (json!({"id": 7}), "id"),
    ] {
        assert_eq!(
            field_of(&shop, Method::PUT, &path, &body).await,
            field,
            "{body}"
        );
    }
    let unchanged = shop.get_json(&path).await;
    assert_eq!(
        (unchanged["name"].clone(), unchanged["quantity"].clone()),
        (json!("Cup"), json!(2))
    );
}

#[tokio::test]
async fn malformed_requests_are_4xx() {
    let shop = Shop::start().await;
    let client = &shop.products.client;
    let url = shop.products.url("/products");
    let send = |content_type: &'static str, body: Vec<u8>| {
        client
            .post(&url)
            .bearer_auth(&shop.admin)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let broken = send("application/json", b"{\"name\": ".to_vec())
        .await
        .unwrap();
    assert_problem_type(broken, 400, "urn:problem:malformed-json").await;
    let form = send("application/x-www-form-urlencoded", b"name=x".to_vec())
        .await
        .unwrap();
    assert_problem(form, 415).await;
    let huge = send("application/json", vec![b' '; 70 * 1024])
        .await
        .unwrap();
    assert_problem(huge, 413).await;

    for path in [
        "/products/abc",
        "/products/0",
        "/products/-1",
        "/products/99999999999999999999",
    ] {
        assert_problem(shop.products.get(path).await, 404).await;
    }
    for query in [
        "limit=0",
        "limit=101",
        "limit=x",
        "skip=-1",
        "skip=10001",
        "cursor=zzz",
        "min_price=abc",
        "max_price=1.234",
        "sort=price",
    ] {
        let response = shop.products.get(&format!("/products?{query}")).await;
        assert_problem(response, 422).await;
    }
    let response = shop
        .products
        .client
        .patch(shop.products.url("/products/1"))
        .send()
        .await
        .unwrap();
    assert_problem(response, 405).await;
}
