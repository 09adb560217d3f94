//! The benchmark floor for `GET /products/{id}`: a bare salvo handler that answers with the
//! same JSON bytes as the real service, with no database, cache, middleware or metrics. The
//! Product Service's cached read is measured against it (docs/benchmarks.md).
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

#[tokio::main]
async fn main() {
    let port = std::env::args()
        .nth(1)
        .and_then(|port| port.parse::<u16>().ok())
        .unwrap_or(18090);
    let acceptor = TcpListener::new(("127.0.0.1", port)).bind().await;
    let router = Router::with_path("products/{id}").get(product);
    Server::new(acceptor).serve(router).await;
}
