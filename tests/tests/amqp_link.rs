//! The supervised RabbitMQ link against the real broker, through a proxy the test cuts.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use lapin::BasicProperties;
use lapin::options::BasicAckOptions;
use shop_amqp::{self, AmqpConfig, AmqpError, AmqpLink, Topology};
use shop_config::Secret;
use test_infra::proxy::TcpProxy;
use test_support::broker::{private_topology, service_url};
use test_support::wait_until;
use tokio_util::sync::CancellationToken;

fn names() -> (String, String) {
    let id = uuid::Uuid::new_v4().simple().to_string();
    (format!("test.exchange.{id}"), format!("test.queue.{id}"))
}

fn topology(exchange: String, queue: String) -> Topology {
    private_topology(exchange, queue, None)
}

fn config(url: &str) -> AmqpConfig {
    AmqpConfig {
        amqp_url: Secret::new(url),
        amqp_timeout_ms: 2_000,
    }
}

type Received = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// Runs a consumer on `link` recording (payload, traceparent) of each delivery.
fn start_consumer(
    link: Arc<AmqpLink>,
    queue: String,
    shutdown: CancellationToken,
) -> (Received, tokio::task::JoinHandle<()>) {
    let received: Received = Arc::default();
    let sink = received.clone();
    // One delivery at a time: the sequential case of the one consumer loop.
    let options = shop_amqp::ConsumerOptions {
        queue,
        consumer_tag: "test-consumer".into(),
        concurrency: 1,
        drain: Duration::from_secs(5),
    };
    let task = tokio::spawn(async move {
        shop_amqp::consume_concurrently(link, options, shutdown, move |delivery| {
            let sink = sink.clone();
            async move {
                let traceparent =
                    shop_amqp::header(&delivery.properties, "traceparent").map(str::to_owned);
                sink.lock().unwrap().push((
                    String::from_utf8_lossy(&delivery.data).into_owned(),
                    traceparent,
                ));
                delivery.ack(BasicAckOptions::default()).await.unwrap();
            }
        })
        .await;
    });
    (received, task)
}

async fn wait_for_payload(received: &Received, payload: &str) {
    wait_until(
        &format!("delivery of {payload}"),
        Duration::from_secs(20),
        || async {
            received
                .lock()
                .unwrap()
                .iter()
                .any(|(body, _)| body == payload)
                .then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn confirmed_publish_reaches_the_consumer_with_trace_headers() {
    test_support::init();
    let (exchange, queue) = names();
    let link = AmqpLink::new(
        &config(service_url()),
        "test",
        true,
        topology(exchange.clone(), queue.clone()),
    );
    link.channel().await.expect("broker reachable");
    let shutdown = CancellationToken::new();
    let (received, consumer) = start_consumer(link.clone(), queue, shutdown.clone());

    let span = tracing::info_span!("test.publish");
    let headers = span.in_scope(|| shop_amqp::headers_with_trace(&[("x-origin", "test")]));
    assert!(headers.contains_key("traceparent"));
    link.publish_confirmed(
        &exchange,
        "order.created",
        b"hello",
        BasicProperties::default().with_headers(headers),
    )
    .await
    .unwrap();
    wait_for_payload(&received, "hello").await;
    let traceparent = received.lock().unwrap()[0]
        .1
        .clone()
        .expect("traceparent header");
    assert!(traceparent.starts_with("00-"), "{traceparent}");

    shutdown.cancel();
    consumer.await.unwrap();
    link.close().await;
}

#[tokio::test]
async fn a_consumer_resumes_by_itself_after_the_connection_drops() {
    test_support::init();
    let (exchange, queue) = names();
    let proxy = TcpProxy::start("127.0.0.1:5672".parse().unwrap()).await;
    let proxied = AmqpLink::new(
        &config(&proxy.rewrite_url(service_url())),
        "test-consumer",
        false,
        topology(exchange.clone(), queue.clone()),
    );
    let direct = AmqpLink::new(
        &config(service_url()),
        "test-publisher",
        true,
        topology(exchange.clone(), queue.clone()),
    );
    proxied
        .channel()
        .await
        .expect("broker reachable through the proxy");
    let shutdown = CancellationToken::new();
    let (received, consumer) = start_consumer(proxied.clone(), queue, shutdown.clone());

    direct
        .publish_confirmed(&exchange, "k", b"before", BasicProperties::default())
        .await
        .unwrap();
    wait_for_payload(&received, "before").await;

    proxy.cut();
    wait_until(
        "the link to notice the drop",
        Duration::from_secs(10),
        || async { (!proxied.is_connected()).then_some(()) },
    )
    .await;
    // Published while the consumer is cut off: it waits in the queue.
    direct
        .publish_confirmed(&exchange, "k", b"during", BasicProperties::default())
        .await
        .unwrap();
    proxy.restore();
    wait_for_payload(&received, "during").await;

    shutdown.cancel();
    consumer.await.unwrap();
    direct.close().await;
}

#[tokio::test]
async fn publishing_while_the_broker_is_unreachable_fails_fast_then_recovers() {
    test_support::init();
    let (exchange, queue) = names();
    let proxy = TcpProxy::start("127.0.0.1:5672".parse().unwrap()).await;
    let link = AmqpLink::new(
        &config(&proxy.rewrite_url(service_url())),
        "test-publisher",
        true,
        topology(exchange.clone(), queue),
    );
    link.publish_confirmed(&exchange, "k", b"one", BasicProperties::default())
        .await
        .unwrap();

    proxy.cut();
    // Fails, at the latest at the link's own timeout (2 s): a publish that waited for the
    // broker for good would trip the guard.
    let error = test_support::within_hang_guard("publishing with the broker cut", async {
        link.publish_confirmed(&exchange, "k", b"two", BasicProperties::default())
            .await
    })
    .await
    .unwrap_err();
    assert!(
        matches!(error, AmqpError::Unavailable(_) | AmqpError::Timeout(_)),
        "{error:?}"
    );

    proxy.restore();
    wait_until(
        "publishing to work again",
        Duration::from_secs(10),
        || async {
            link.publish_confirmed(&exchange, "k", b"three", BasicProperties::default())
                .await
                .ok()
        },
    )
    .await;
    link.close().await;
}

#[tokio::test]
async fn a_concurrent_consumer_holds_several_deliveries_and_finishes_them_on_shutdown() {
    test_support::init();
    let (exchange, queue) = names();
    let base = topology(exchange.clone(), queue.clone());
    // The prefetch window is what lets the broker hand over several at once.
    let with_prefetch: Topology = Arc::new(move |channel| {
        let base = base.clone();
        Box::pin(async move {
            base(channel.clone()).await?;
            channel
                .basic_qos(4, lapin::options::BasicQosOptions::default())
                .await
        })
    });
    let link = AmqpLink::new(
        &config(service_url()),
        "test-concurrent",
        true,
        with_prefetch,
    );
    link.channel().await.expect("broker reachable");
    let started = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (gate, _) = tokio::sync::watch::channel(false);
    let gate = Arc::new(gate);
    let shutdown = CancellationToken::new();
    let consumer = tokio::spawn(shop_amqp::consume_concurrently(
        link.clone(),
        shop_amqp::ConsumerOptions {
            queue: queue.clone(),
            consumer_tag: "test-concurrent".into(),
            concurrency: 4,
            drain: Duration::from_secs(10),
        },
        shutdown.clone(),
        {
            let (started, gate) = (started.clone(), gate.clone());
            move |delivery| {
                let (started, mut open) = (started.clone(), gate.subscribe());
                async move {
                    started.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let _ = open.wait_for(|open| *open).await;
                    delivery.ack(BasicAckOptions::default()).await.unwrap();
                }
            }
        },
    ));

    for index in 0..4 {
        link.publish_confirmed(
            &exchange,
            "k",
            format!("m{index}").as_bytes(),
            BasicProperties::default(),
        )
        .await
        .unwrap();
    }
    wait_until(
        "four deliveries in hand at once",
        Duration::from_secs(20),
        || async { (started.load(std::sync::atomic::Ordering::SeqCst) == 4).then_some(()) },
    )
    .await;

    shutdown.cancel();
    gate.send_replace(true);
    tokio::time::timeout(Duration::from_secs(15), consumer)
        .await
        .expect("the consumer stops after finishing what it holds")
        .unwrap();
    // Closing returns anything unacknowledged to the queue, where it would be counted.
    link.close().await;
    let broker = test_support::broker::TestBroker::connect().await;
    assert_eq!(
        broker.queue_counts(&queue).await,
        Some((0, 0)),
        "all four were acked before the consumer returned"
    );
}
