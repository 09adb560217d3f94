//! What the runtime gives every service, checked on the Product Service.

use serde_json::{Value, json};

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
    let page = &schemas["ProductPage"];
    assert!(page["properties"]["next_cursor"].is_object());
    // Plain type names, as a generated client should get them.
    for name in ["Product", "Problem", "FieldError", "ReservationRequest"] {
        assert!(
            schemas.contains_key(name),
            "schema {name} in {:?}",
            schemas.keys()
        );
    }
    assert!(
        schemas.keys().all(|name| !name.contains('.')),
        "{:?}",
        schemas.keys()
    );
}

#[tokio::test]
async fn openapi_states_the_rules_the_service_enforces() {
    let shop = Shop::start().await;
    let document: Value = shop
        .products
        .get("/openapi.json")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        document["info"]["description"]
            .as_str()
            .is_some_and(|text| !text.is_empty())
    );
    // The gateway is a server, over HTTPS (it serves nothing else).
    let servers: Vec<&str> = document["servers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|server| server["url"].as_str())
        .collect();
    assert!(servers.contains(&"https://localhost:8443"), "{servers:?}");
    assert!(servers.contains(&"https://127.0.0.1:8080"), "{servers:?}");
    assert!(
        !servers.iter().any(|url| url.starts_with("http://")),
        "{servers:?}"
    );
    // Authentication is a security scheme (the Authorize button of /docs), not a parameter.
    let schemes = &document["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["service_token"]["name"], "x-service-token");
    let paths = &document["paths"];
    let create = &paths["/products"]["post"];
    assert_eq!(create["security"][0]["bearer"], json!([]));
    assert!(create["responses"]["401"].is_object() && create["responses"]["403"].is_object());
    assert!(create["parameters"].as_array().is_none_or(Vec::is_empty));
    let reserve = &paths["/internal/reservations"]["post"];
    assert_eq!(reserve["security"][0]["service_token"], json!([]));
    // The public read has neither a scheme nor authentication errors, nor a body's 413/415.
    let get = &paths["/products/{id}"]["get"];
    assert!(get["security"].is_null());
    for status in ["401", "403", "413", "415"] {
        assert!(
            get["responses"][status].is_null(),
            "GET /products/{{id}} {status}"
        );
    }

    let schemas = &document["components"]["schemas"];
    let body = &schemas["CreateProductRequest"]["properties"];
    assert_eq!(body["name"]["minLength"], 1);
    assert_eq!(body["name"]["maxLength"], 200);
    // A field's own doc comment wraps its type's schema in an `allOf`.
    let quantity = &body["quantity"]["allOf"][0];
    assert_eq!(quantity["minimum"], 0, "{}", body["quantity"]);
    assert_eq!(quantity["maximum"], 1_000_000_000);
    let reservation = &schemas["ReservationRequest"]["properties"]["quantity"];
    assert_eq!(
        (
            reservation["minimum"].clone(),
            reservation["maximum"].clone()
        ),
        (json!(1), json!(10_000))
    );
    // In a PUT a field may be left out but not sent as null.
    let update = &schemas["UpdateProductRequest"];
    assert_eq!(update["minProperties"], 1);
    assert_eq!(update["properties"]["description"]["type"], "string");
}

/// The binary, not the library: a bad setting stops it before it serves, naming the key.
#[tokio::test]
async fn the_binary_refuses_a_bad_setting_naming_it() {
    let binary = env!("CARGO_BIN_EXE_product-service");
    test_infra::startup::assert_refuses_setting(binary, "PORT", "eighty").await;
    test_infra::startup::assert_refuses_setting(binary, "REDIS_TIMEOUT_MS", "soon").await;
}
