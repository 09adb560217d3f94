//! A handler that panics costs its request, not the process: the caller gets a 500 in the
//! API's problem format, the request is counted as a 500, and the service goes on serving.

use salvo::prelude::*;
use serde_json::Value;
use shop_config::{CommonConfig, ServiceInfo};
use shop_http::health::Health;
use shop_http::server::{self, ServiceParts, route};
use shop_telemetry::metrics::Metrics;
use shop_telemetry::request_trace::RequestTracing;

const INFO: ServiceInfo = ServiceInfo {
    name: "panicking-service",
    version: "0",
    description: "",
};

#[handler]
async fn boom() -> &'static str {
    panic!("the handler broke an invariant")
}

#[tokio::test]
async fn a_panicking_handler_answers_500_problem_and_the_service_keeps_serving() {
    server::install_crypto_provider();
    let service = server::build_service(ServiceParts {
        info: INFO,
        api: route("/boom").get(boom),
        health: Health::new(INFO, Vec::new()),
        metrics: Metrics::new(),
        max_body_bytes: 1024,
        tracing: RequestTracing::from_config(&CommonConfig::default()),
    });
    let acceptor = server::bind([127, 0, 0, 1].into(), 0).await.unwrap();
    let base = format!("http://{}", server::local_addr(&acceptor));
    tokio::spawn(Server::new(acceptor).serve(service));
    let client = reqwest::Client::builder().no_proxy().build().unwrap();

    for _ in 0..2 {
        let response = client.get(format!("{base}/boom")).send().await.unwrap();
        assert_eq!(response.status(), 500);
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["status"], 500);
        let detail = problem.to_string();
        assert!(
            !detail.contains("invariant"),
            "the panic's message is not sent to the client: {detail}"
        );
    }

    let live = client
        .get(format!("{base}/health/live"))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200);
    let metrics = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"http_requests_total{method="GET",route="/boom",status="500"} 2"#),
        "{metrics}"
    );
}
