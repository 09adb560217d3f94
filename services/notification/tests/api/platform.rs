//! What the service shows over HTTP: health with RabbitMQ, metrics, OpenAPI; and a start
//! without a broker.

use serde_json::Value;
use test_infra::proxy::TcpProxy;
use test_support::broker::{BROKER_ADDRESS, TestBroker, order_created, service_url};
use test_support::notification::{NotificationServiceHandle, NotificationTopology};
use test_support::wait_until;

use crate::{DELIVERED, WAIT, wait_for_metric};

#[tokio::test]
async fn health_reports_rabbitmq_and_metrics_list_the_notification_counters() {
    let topology = NotificationTopology::unique();
    let service = NotificationServiceHandle::start(&topology, &[]).await;

    let response = service.get("/health").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["service"], "notification-service");
    assert_eq!(body["status"], "healthy");
    assert_eq!(body["dependencies"]["rabbitmq"]["status"], "up");
    assert_eq!(
        body["dependencies"]["rabbitmq"],
        serde_json::json!({"status": "up", "required": true})
    );

    let text = service.metrics().await;
    for sample in [
        r#"notifications_handled_total{outcome="delivered"} 0"#,
        r#"notifications_handled_total{outcome="duplicate"} 0"#,
        r#"notifications_failed_total{channel="log",kind="transient"} 0"#,
        r#"notifications_sent_total{channel="log"} 0"#,
        "notifications_retried_total 0",
        r#"notifications_dead_lettered_total{reason="malformed"} 0"#,
        r#"notifications_dead_lettered_total{reason="attempts_exhausted"} 0"#,
        "# TYPE notification_handling_duration_seconds histogram",
    ] {
        assert!(text.contains(sample), "{sample} in {text}");
    }
    let document = service.get("/openapi.json").await;
    assert_eq!(document.status(), 200);
    let ready = service.get("/health/ready").await;
    assert_eq!(ready.status(), 200);
    service.stop().await;
}

#[tokio::test]
async fn a_broker_that_is_down_at_start_does_not_stop_the_service() {
    let proxy = TcpProxy::start(BROKER_ADDRESS.parse().unwrap()).await;
    proxy.cut();
    let topology = NotificationTopology::unique();
    let proxied_url = proxy.rewrite_url(service_url());
    let service = NotificationServiceHandle::start(&topology, &[("AMQP_URL", &proxied_url)]).await;

    let response = service.get("/health").await;
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["dependencies"]["rabbitmq"]["status"], "down");

    proxy.restore();
    let broker = TestBroker::connect().await;
    wait_until("the queue to be declared and consumed", WAIT, || async {
        (broker.queue_counts(&topology.queue).await?.1 == 1).then_some(())
    })
    .await;
    broker
        .publish_event(&topology.exchange, &order_created(80), None)
        .await;
    wait_for_metric(&service, DELIVERED, 1.0).await;
    service.stop().await;
}

/// `notification-service healthcheck`, the container healthcheck of an image without a shell:
/// exit 0 while the instance on `PORT` is ready, 1 once nothing answers there.
#[tokio::test]
async fn the_healthcheck_command_asks_the_running_instance() {
    let topology = NotificationTopology::unique();
    let service = NotificationServiceHandle::start(&topology, &[]).await;
    // Asynchronously: the service under test answers on this very runtime.
    let healthcheck = |port: u16| async move {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_notification-service"))
            .arg("healthcheck")
            .env("PORT", port.to_string())
            .env("AMQP_URL", service_url())
            .status()
            .await
            .expect("the binary runs")
            .code()
    };
    wait_until("the service to be ready", WAIT, || async {
        let response = service
            .client
            .get(service.url("/health/ready"))
            .send()
            .await
            .ok()?;
        (response.status() == 200).then_some(())
    })
    .await;
    assert_eq!(healthcheck(service.address.port()).await, Some(0));
    let port = service.address.port();
    service.stop().await;
    assert_eq!(healthcheck(port).await, Some(1));
}

/// The binary, not the library: a bad setting stops it before it serves, naming the key.
#[tokio::test]
async fn the_binary_refuses_a_bad_setting_naming_it() {
    let binary = env!("CARGO_BIN_EXE_notification-service");
    test_infra::startup::assert_refuses_setting(binary, "PORT", "eighty").await;
    test_infra::startup::assert_refuses_setting(binary, "NOTIFY_MAX_ATTEMPTS", "99").await;
}
