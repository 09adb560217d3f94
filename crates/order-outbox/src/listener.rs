//! The LISTEN connection that wakes the relay when an order transaction commits an event. It is
//! opened outside the pool (it stays open), as the pool's role and over the same TLS; when it
//! drops, the relay polls until it reopens it.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use shop_postgres::{DatabaseConfig, connect_unpooled};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_postgres::AsyncMessage;

use crate::store::OUTBOX_CHANNEL;

/// Opens the connection and listens; each notification wakes `wake`. The task ends when the
/// connection does. `None` when it cannot connect or listen.
pub async fn listen(database: &DatabaseConfig, wake: Arc<Notify>) -> Option<JoinHandle<()>> {
    // `DB_TIMEOUT_MS` bounds the TCP connect only; this bounds the TLS handshake and the
    // login too, as the pool's create timeout does.
    let timeout = Duration::from_millis(database.db_timeout_ms);
    let connected = tokio::time::timeout(timeout, connect_unpooled(database)).await;
    let (client, mut messages) = match connected {
        Ok(Ok(connected)) => connected,
        Ok(Err(error)) => {
            tracing::warn!(error = %format!("{error:#}"), "outbox listener cannot connect; polling only");
            return None;
        }
        Err(_) => {
            tracing::warn!(
                timeout_ms = database.db_timeout_ms,
                "outbox listener: no connection in time; polling only"
            );
            return None;
        }
    };
    let task = tokio::spawn(async move {
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

#[cfg(test)]
mod tests {
    use shop_config::Secret;
    use test_infra::postgres_server::PrivatePostgres;

    use super::*;

    /// A server that accepts only TLS: the listener connects as the pool does (the URL's
    /// `sslmode`), so a NOTIFY committed there wakes the relay.
    #[tokio::test]
    async fn the_listener_connects_over_tls_and_wakes_on_notify() {
        shop_http::server::install_crypto_provider();
        let postgres = PrivatePostgres::start_tls_only();
        let database = DatabaseConfig {
            database_url: Secret::new(postgres.url("postgres", "sslmode=require")),
            ..DatabaseConfig::default()
        };
        let wake = Arc::new(Notify::new());
        let listening = listen(&database, wake.clone())
            .await
            .expect("the listener connects to a TLS-only server");

        let (notifier, messages) = connect_unpooled(&database).await.unwrap();
        let driver = tokio::spawn(messages.for_each(|_| async {}));
        notifier
            .batch_execute(&format!("NOTIFY {OUTBOX_CHANNEL}"))
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(10), wake.notified())
            .await
            .expect("the notification wakes the relay");
        listening.abort();
        driver.abort();
    }
}
