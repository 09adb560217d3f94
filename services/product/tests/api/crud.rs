//! Create, read, update and delete, with exact prices and verbatim text.

use reqwest::Method;
use serde_json::json;

use crate::{Shop, assert_problem, assert_problem_type};

#[tokio::test]
async fn a_product_goes_through_its_whole_life() {
    let shop = Shop::start().await;
    let created = shop
        .products
        .create_product(
            &shop.admin,
            &json!({"name": "Mug", "description": "Blue", "price": "19.99", "quantity": 10}),
        )
        .await;
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["name"], "Mug");
    assert_eq!(created["description"], "Blue");
    assert_eq!(created["price"], "19.99");
    assert_eq!(created["quantity"], 10);
    assert!(created["created_at"].is_string() && created["updated_at"].is_string());
    assert!(
        created.get("version").is_none(),
        "internal fields stay inside"
    );

    let fetched = shop.get_json(&format!("/products/{id}")).await;
    assert_eq!(fetched, created);

    let response = shop
        .admin_json(
            Method::PUT,
            &format!("/products/{id}"),
            &json!({"price": 24.5}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let updated: serde_json::Value = response.json().await.unwrap();
    assert_eq!(updated["price"], "24.50");
    assert_eq!(updated["name"], "Mug", "fields left out keep their value");
    assert_eq!(updated["quantity"], 10);
    assert_eq!(updated["created_at"], created["created_at"]);
    assert_ne!(updated["updated_at"], created["updated_at"]);
    assert_eq!(shop.get_json(&format!("/products/{id}")).await, updated);

    let response = shop
        .admin_json(Method::DELETE, &format!("/products/{id}"), &json!({}))
        .await;
    assert_eq!(response.status(), 204);
    assert_problem_type(
        shop.products.get(&format!("/products/{id}")).await,
        404,
        "urn:problem:product-not-found",
    )
    .await;
    let again = shop
        .admin_json(Method::DELETE, &format!("/products/{id}"), &json!({}))
        .await;
    assert_problem(again, 404).await;
    let update_gone = shop
        .admin_json(
            Method::PUT,
            &format!("/products/{id}"),
            &json!({"quantity": 1}),
        )
        .await;
    assert_problem(update_gone, 404).await;
}

#[tokio::test]
async fn prices_are_exact_decimals_from_strings_or_numbers() {
    let shop = Shop::start().await;
    for (sent, stored) in [
        (json!("0.10"), "0.10"),
        (json!(0.3), "0.30"),
        (json!(20), "20.00"),
        (json!("9999999999.99"), "9999999999.99"),
        (json!(1234567.89), "1234567.89"),
    ] {
        let product = shop
            .products
            .create_product(
                &shop.admin,
                &json!({"name": "Priced", "price": sent, "quantity": 1}),
            )
            .await;
        assert_eq!(product["price"], stored, "sent {sent}");
        let id = product["id"].as_i64().unwrap();
        let fetched = shop.get_json(&format!("/products/{id}")).await;
        assert_eq!(fetched["price"], stored);
    }
}

#[tokio::test]
async fn sql_looking_and_unusual_text_is_stored_verbatim() {
    let shop = Shop::start().await;
    let name = "Robert'); DROP TABLE products; --";
    let description = "50% off_\\ \"quoted\" ünïcødé 🚀 $1 OR 1=1; SELECT pg_sleep(10)";
    let product = shop
        .products
        .create_product(
            &shop.admin,
            &json!({"name": name, "description": description, "price": "1.00", "quantity": 0}),
        )
        .await;
    let id = product["id"].as_i64().unwrap();
    let fetched = shop.get_json(&format!("/products/{id}")).await;
    assert_eq!(fetched["name"], name);
    assert_eq!(fetched["description"], description);
    // The table is still there, and a search for the text finds exactly it.
    let page = shop.get_json("/products?name=DROP%20TABLE").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let page = shop.get_json("/products?name=%25").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 0, "% is literal");
}
