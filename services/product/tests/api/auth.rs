//! Who may write the catalogue and who may reserve stock.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Method;
use serde_json::json;
use shop_config::ServiceConfig as _;
use shop_config::Settings;
use shop_http::service_auth::SERVICE_TOKEN_HEADER;
use test_support::{TestDatabase, UserServiceHandle};
use user_service::domain::Role;
use user_service::tokens::TokenIssuer;

use crate::{Shop, assert_problem, assert_problem_type};

const PRODUCT: &str = r#"{"name":"Lamp","price":"5.00","quantity":1}"#;

async fn create_with(shop: &Shop, authorization: Option<&str>) -> reqwest::Response {
    let mut request = shop
        .products
        .client
        .post(shop.products.url("/products"))
        .header("content-type", "application/json")
        .body(PRODUCT);
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn writes_need_a_valid_admin_token() {
    let shop = Shop::start().await;
    let user = shop.users.register("someone", "password-1").await;
    let uid = user["id"].as_i64().unwrap();

    assert_problem_type(
        create_with(&shop, None).await,
        401,
        "urn:problem:unauthenticated",
    )
    .await;
    assert_problem(create_with(&shop, Some("Token abc")).await, 401).await;
    assert_problem(create_with(&shop, Some("Bearer not.a.jwt")).await, 401).await;

    let past = chrono::Utc::now().timestamp() - 7200;
    let expired = shop.users.token_issued_at(&user, Role::Admin, past);
    let problem = assert_problem(
        create_with(&shop, Some(&format!("Bearer {expired}"))).await,
        401,
    )
    .await;
    assert_eq!(problem["detail"], "token has expired");

    let forged = TokenIssuer::new(b"another-key-another-key-another-key", 60)
        .issue(uid, "someone", Role::Admin)
        .unwrap();
    assert_problem(
        create_with(&shop, Some(&format!("Bearer {forged}"))).await,
        401,
    )
    .await;

    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let exp = chrono::Utc::now().timestamp() + 600;
    let claims = URL_SAFE_NO_PAD.encode(format!(
        r#"{{"sub":"someone","uid":{uid},"role":"admin","iat":0,"exp":{exp},"jti":"x"}}"#
    ));
    let unsigned = format!("{header}.{claims}.");
    assert_problem(
        create_with(&shop, Some(&format!("Bearer {unsigned}"))).await,
        401,
    )
    .await;

    let (_, customer) = shop.users.customer().await;
    assert_problem_type(
        create_with(&shop, Some(&format!("Bearer {customer}"))).await,
        403,
        "urn:problem:forbidden",
    )
    .await;
    let id = shop
        .products
        .product_with_stock(&shop.admin, "Existing", 1)
        .await;
    for method in [Method::PUT, Method::DELETE] {
        let response = shop
            .products
            .client
            .request(method, shop.products.url(&format!("/products/{id}")))
            .bearer_auth(&customer)
            .json(&json!({"quantity": 0}))
            .send()
            .await
            .unwrap();
        assert_problem(response, 403).await;
    }
    let admin = create_with(&shop, Some(&format!("Bearer {}", shop.admin))).await;
    assert_eq!(admin.status(), 201);
    // Reads are public.
    assert_eq!(
        shop.products.get(&format!("/products/{id}")).await.status(),
        200
    );
}

#[tokio::test]
async fn user_service_down_is_a_fast_503_not_a_401() {
    // The validation timeout is ten minutes: the 503 must come from the refused connection at
    // once, since waiting for the timeout would trip the test client's own (30 s) instead.
    let shop =
        Shop::start_with(&[("AUTH_TIMEOUT_MS", test_support::TIMEOUT_BEYOND_GUARD_MS)]).await;
    let (_, fresh_admin) = shop.users.admin().await;
    let Shop {
        users, products, ..
    } = shop;
    users.stop().await;
    let response = products
        .client
        .post(products.url("/products"))
        .bearer_auth(&fresh_admin)
        .json(&json!({"name": "Lamp", "price": "5.00", "quantity": 1}))
        .send()
        .await
        .unwrap();
    assert_problem_type(response, 503, "urn:problem:unavailable").await;
}

#[tokio::test]
async fn reservations_need_the_service_credential_not_a_user_token() {
    let shop = Shop::start().await;
    let id = shop
        .products
        .product_with_stock(&shop.admin, "Held", 5)
        .await;
    let body = json!({"reservation_id": uuid::Uuid::new_v4(), "product_id": id, "quantity": 1});
    let url = shop.products.url("/internal/reservations");
    let client = &shop.products.client;

    let missing = client.post(&url).json(&body).send().await.unwrap();
    assert_problem_type(missing, 401, "urn:problem:service-unauthenticated").await;
    let wrong = client
        .post(&url)
        .header(SERVICE_TOKEN_HEADER, "test-only-service-token-0123456788")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_problem_type(wrong, 401, "urn:problem:invalid-service-token").await;
    let admin_jwt = client
        .post(&url)
        .bearer_auth(&shop.admin)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_problem(admin_jwt, 401).await;
    let release = client
        .delete(
            shop.products
                .url(&format!("/internal/reservations/{}", uuid::Uuid::new_v4())),
        )
        .bearer_auth(&shop.admin)
        .send()
        .await
        .unwrap();
    assert_problem(release, 401).await;
    assert_eq!(
        shop.get_json(&format!("/products/{id}")).await["quantity"],
        5,
        "nothing was reserved"
    );
}

#[tokio::test]
async fn production_without_a_service_token_shuts_internal_routes() {
    test_support::init();
    let users = UserServiceHandle::start().await;
    let database = TestDatabase::new("products_no_token");
    let settings = Settings::from_pairs([
        ("HOST", "127.0.0.1".to_owned()),
        ("PORT", "0".to_owned()),
        ("DATABASE_URL", database.url.clone()),
        ("USER_SERVICE_URL", users.base_url.clone()),
    ]);
    let config = product_service::config::ProductServiceConfig::from_settings(settings).unwrap();
    let app = product_service::build(config).await.unwrap();
    let service = test_support::TestService::spawn(app, database);
    let (base, client) = (&service.base_url, &service.client);
    for token in ["dev-service-token", ""] {
        let response = client
            .post(format!("{base}/internal/reservations"))
            .header(SERVICE_TOKEN_HEADER, token)
            .json(&json!({"reservation_id": uuid::Uuid::new_v4(), "product_id": 1, "quantity": 1}))
            .send()
            .await
            .unwrap();
        assert_problem_type(response, 503, "urn:problem:internal-api-disabled").await;
    }
    let health = client
        .get(format!("{base}/health/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200, "the public API keeps serving");
    service.stop().await;
}
