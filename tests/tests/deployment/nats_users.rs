//! The NATS users compose and Nomad deploy (`deploy/nats/shop.conf`), on a real nats-server of
//! the test's own: the bridge can keep the stream and publish the order events; the storefront
//! can follow them through its durable pull consumer, as `order_status_feed::consumer` does,
//! and can neither publish an event nor purge or delete the stream.

use std::process::Stdio;
use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull};
use async_nats::jetstream::stream::Config as StreamConfig;
use async_nats::jetstream::{self, Context};
use futures_util::StreamExt as _;
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

use crate::support::repo_root;

const STREAM: &str = "ORDER_EVENTS";

/// A nats-server started with the deployed users file, ended by its PID when dropped.
struct Server {
    port: u16,
    child: Child,
    store: std::path::PathBuf,
}

impl Server {
    async fn start() -> Self {
        let port = test_support::free_port();
        let store =
            std::env::temp_dir().join(format!("nats-users-{}", uuid::Uuid::new_v4().simple()));
        let binary = ["/usr/sbin/nats-server", "nats-server"]
            .into_iter()
            .find(|path| std::path::Path::new(path).exists())
            .unwrap_or("nats-server");
        let child = Command::new(binary)
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(&store)
            .arg("-c")
            .arg(repo_root().join("deploy/nats/shop.conf"))
            .env("NATS_BRIDGE_PASSWORD", "bridge-secret")
            .env("NATS_STOREFRONT_PASSWORD", "storefront-secret")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("nats-server is installed (Debian nats-server)");
        test_support::wait_until(
            "the private nats-server to listen",
            Duration::from_secs(10),
            || async move { TcpStream::connect(("127.0.0.1", port)).await.ok().map(drop) },
        )
        .await;
        Self { port, child, store }
    }

    /// A JetStream context as `user`, whose requests give up after a second: a request the
    /// server refuses gets no answer, only an asynchronous permissions error.
    async fn connect(&self, user: &str, password: &str) -> (async_nats::Client, Context) {
        let client =
            async_nats::ConnectOptions::with_user_and_password(user.into(), password.into())
                .request_timeout(Some(Duration::from_secs(1)))
                .connect(format!("127.0.0.1:{}", self.port))
                .await
                .unwrap_or_else(|error| panic!("{user} logs in: {error}"));
        let context = jetstream::context::ContextBuilder::new()
            .timeout(Duration::from_secs(1))
            .build(client.clone());
        (client, context)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.store);
    }
}

async fn stored_messages(bridge: &Context) -> u64 {
    bridge
        .get_stream(STREAM)
        .await
        .expect("the bridge reads the stream")
        .cached_info()
        .state
        .messages
}

#[tokio::test]
async fn the_storefront_reads_the_events_the_bridge_publishes_and_nothing_more() {
    let server = Server::start().await;
    let (_, bridge) = server.connect("bridge", "bridge-secret").await;
    let (storefront_client, storefront) = server.connect("storefront", "storefront-secret").await;

    // The bridge: creates and updates the stream as `ensure_stream` does, publishes an event.
    let mut wanted = StreamConfig {
        name: STREAM.into(),
        subjects: vec!["events.>".into()],
        ..StreamConfig::default()
    };
    shop_nats::ensure_stream(&bridge, &wanted)
        .await
        .expect("the bridge creates the stream");
    wanted.max_messages = 1_000_000;
    shop_nats::ensure_stream(&bridge, &wanted)
        .await
        .expect("the bridge updates the stream");
    bridge
        .publish("events.order.created", "{}".into())
        .await
        .expect("the bridge publishes")
        .await
        .expect("the stream stores the bridge's event");

    // The storefront: its consumer, as `order_status_feed::consumer` makes it, then a pull and
    // an ack.
    let stream = storefront
        .get_stream(STREAM)
        .await
        .expect("the storefront looks the stream up");
    let config = pull::Config {
        durable_name: Some("storefront-test".into()),
        filter_subject: "events.order.>".into(),
        deliver_policy: DeliverPolicy::All,
        ack_policy: AckPolicy::Explicit,
        ..pull::Config::default()
    };
    let consumer: PullConsumer = stream
        .get_or_create_consumer("storefront-test", config.clone())
        .await
        .expect("the storefront creates its consumer");
    let mut messages = consumer
        .fetch()
        .max_messages(1)
        .expires(Duration::from_secs(2))
        .messages()
        .await
        .expect("the storefront pulls");
    let message = messages
        .next()
        .await
        .expect("the event arrives")
        .expect("a message");
    assert_eq!(message.subject.as_str(), "events.order.created");
    message.ack().await.expect("the storefront acks");
    // Found again (a restarted replica), not created.
    stream
        .get_or_create_consumer("storefront-test", config)
        .await
        .expect("the storefront finds its consumer again");

    // What it must not do. A refused publish is dropped by the server: the stream is unchanged.
    let before = stored_messages(&bridge).await;
    storefront_client
        .publish("events.order.created", "{}".into())
        .await
        .expect("sent");
    storefront_client.flush().await.expect("flushed");
    assert!(
        storefront
            .publish("events.order.status_changed", "{}".into())
            .await
            .expect("sent")
            .await
            .is_err(),
        "the storefront's event is not stored"
    );
    assert_eq!(
        stored_messages(&bridge).await,
        before,
        "no event from the storefront"
    );
    assert!(
        storefront.delete_stream(STREAM).await.is_err(),
        "delete refused"
    );
    assert!(stream.purge().await.is_err(), "purge refused");
    assert!(
        stream.delete_consumer("storefront-test").await.is_err(),
        "deleting a consumer refused"
    );
    assert_eq!(
        stored_messages(&bridge).await,
        before,
        "the stream is intact"
    );
}

#[tokio::test]
async fn a_client_without_the_password_is_refused() {
    let server = Server::start().await;
    let refused = async_nats::ConnectOptions::with_user_and_password(
        "storefront".into(),
        "bridge-secret".into(),
    )
    .connect(format!("127.0.0.1:{}", server.port))
    .await;
    assert!(
        refused.is_err(),
        "the bridge's password is not the storefront's"
    );
}
