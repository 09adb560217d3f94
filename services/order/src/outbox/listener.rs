//! The LISTEN connection that wakes the relay when an order transaction commits an event. It is
//! opened outside the pool (it stays open); when it drops, the relay polls until it reopens it.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_postgres::{AsyncMessage, NoTls};

use super::store::OUTBOX_CHANNEL;

/// Opens the connection and listens; each notification wakes `wake`. The task ends when the
/// connection does. `None` when it cannot connect or listen.
pub async fn listen(url: &str, wake: Arc<Notify>) -> Option<JoinHandle<()>> {
    let connected =
        tokio::time::timeout(Duration::from_secs(2), tokio_postgres::connect(url, NoTls)).await;
    let Ok(Ok((client, mut connection))) = connected else {
        tracing::warn!("outbox listener cannot connect; polling only");
        return None;
    };
    let task = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(_)) => wake.notify_one(),
                Ok(_) => {}
                Err(_) => break,
            }
        }
    });
    if client
        .batch_execute(&format!("LISTEN {OUTBOX_CHANNEL}"))
        .await
        .is_err()
    {
        task.abort();
        return None;
    }
    // The client must live as long as the connection task: move it into a task that awaits it.
    Some(tokio::spawn(async move {
        let _client = client;
        let _ = task.await;
    }))
}
