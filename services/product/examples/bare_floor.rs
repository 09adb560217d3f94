//! The benchmark floor for `GET /products/{id}`: a bare salvo handler that answers with the
//! same JSON bytes as the real service, with no database, cache, middleware or metrics. The
//! Product Service's cached read is measured against it (docs/benchmarks.md). It also answers
//! `/health/ready`, so that the gateway's health check keeps it in rotation when the bench
//! puts the gateway in front of it.
//!
//! `cargo run --release -p product-service --example bare_floor -- PORT`

use salvo::http::header::{CONTENT_TYPE, HeaderValue};
use salvo::prelude::*;

/// What `GET /products/1` returns for the benchmark's seeded product.
const PRODUCT: &str = r#"{"id":1,"name":"item 1","description":"benchmark product 1","price":"1.99","quantity":1,"created_at":"2026-11-25T00:00:00.000000Z","updated_at":"2026-11-25T00:00:00.000000Z"}"#;

#[handler]
async fn product(res: &mut Response) {
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res.body(PRODUCT);
}

#[handler]
async fn ready(res: &mut Response) {
    res.body("ready");
}

#[tokio::main]
async fn main() {
    let port = std::env::args()
        .nth(1)
        .and_then(|port| port.parse::<u16>().ok())
        .unwrap_or(18090);
    let acceptor = TcpListener::new(("127.0.0.1", port)).bind().await;
    let router = Router::new()
        .push(Router::with_path("products/{id}").get(product))
        .push(Router::with_path("health/ready").get(ready));
    Server::new(acceptor).serve(router).await;
}
