//! What the runtime gives every service, checked on the Product Service.

use serde_json::Value;

use crate::Shop;

#[tokio::test]
async fn health_reports_database_and_redis() {
    let shop = Shop::start().await;
    let report: Value = shop.products.get("/health").await.json().await.unwrap();
    assert_eq!(report["status"], "healthy");
    assert_eq!(report["service"], "product-service");
    assert_eq!(report["dependencies"]["database"]["status"], "up");
    assert_eq!(report["dependencies"]["redis"]["status"], "up");
    assert_eq!(report["dependencies"]["redis"]["required"], false);
}

#[tokio::test]
async fn openapi_documents_public_admin_and_internal_routes() {
    let shop = Shop::start().await;
    let document: Value = shop
        .products
        .get("/openapi.json")
        .await
        .json()
        .await
        .unwrap();
    let paths = &document["paths"];
    for (path, method) in [
        ("/products", "get"),
        ("/products", "post"),
        ("/products/{id}", "get"),
        ("/products/{id}", "put"),
        ("/products/{id}", "delete"),
        ("/internal/reservations", "post"),
        ("/internal/reservations/{reservation_id}", "delete"),
    ] {
        let operation = &paths[path][method];
        assert!(operation.is_object(), "{method} {path} is documented");
        let responses = operation["responses"].as_object().unwrap();
        assert!(
            responses.keys().any(|code| code.starts_with('2')),
            "{method} {path}"
        );
    }
    assert_eq!(
        paths["/internal/reservations"]["post"]["tags"][0],
        "internal"
    );
    let reservation = &paths["/internal/reservations"]["post"];
    assert!(reservation["responses"]["409"]["content"]["application/problem+json"].is_object());
    let schemas = document["components"]["schemas"].as_object().unwrap();
    let page = schemas
        .iter()
        .find(|(name, _)| name.ends_with("ProductPage"))
        .expect("the page schema")
        .1;
    assert!(page["properties"]["next_cursor"].is_object());
}
