//! Reading a `GET /live/orders` stream of server-sent events in a test.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::StorefrontHandle;

/// One server-sent event.
#[derive(Debug)]
pub struct Event {
    pub name: String,
    pub id: Option<u64>,
    pub data: String,
}

/// Reads the events of one `GET /live/orders` response as they arrive.
pub struct EventReader {
    response: reqwest::Response,
    buffer: String,
}

impl EventReader {
    /// Opens the stream of `session`; panics unless it is one.
    pub async fn open(
        storefront: &StorefrontHandle,
        session: &str,
        last_event: Option<u64>,
    ) -> Self {
        Self::open_at(&storefront.base_url, session, last_event).await
    }

    /// Opens the stream of `session` on the storefront at `base_url` (a replica running as a
    /// process of its own, say).
    pub async fn open_at(base_url: &str, session: &str, last_event: Option<u64>) -> Self {
        // No overall timeout: the stream stays open; each read has its own deadline.
        let _ = test_support::http_client();
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let mut request = client
            .get(format!("{base_url}/live/orders?since=0"))
            .header("cookie", format!("sf_session={session}"));
        if let Some(id) = last_event {
            request = request.header("last-event-id", id.to_string());
        }
        let response = request.send().await.expect("the live stream opens");
        assert_eq!(response.status(), 200);
        let kind = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(kind.starts_with("text/event-stream"), "{kind}");
        Self {
            response,
            buffer: String::new(),
        }
    }

    /// The next event that is not a keep-alive comment, waiting at most `deadline`.
    pub async fn next(&mut self, deadline: Duration) -> Event {
        let until = Instant::now() + deadline;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = Event {
                    name: "message".into(),
                    id: None,
                    data: String::new(),
                };
                for line in block.lines() {
                    match line.split_once(':') {
                        Some(("event", value)) => event.name = value.trim().to_owned(),
                        Some(("id", value)) => event.id = value.trim().parse().ok(),
                        Some(("data", value)) => event.data.push_str(value.trim()),
                        _ => {}
                    }
                }
                if !event.data.is_empty() {
                    return event;
                }
                continue;
            }
            let left = until.saturating_duration_since(Instant::now());
            let chunk = tokio::time::timeout(left, self.response.chunk())
                .await
                .unwrap_or_else(|_| panic!("no event within {deadline:?}; got {:?}", self.buffer))
                .expect("the stream stays open")
                .expect("the stream does not end");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Asserts that the next status event is `order` in `status`; returns its id.
    pub async fn expect(&mut self, order: i64, status: &str) -> u64 {
        let (got_order, got_status, id) = self.next_status().await;
        assert_eq!((got_order, got_status.as_str()), (order, status));
        id
    }

    /// The next `status` event, skipping `live` ones; returns (order, status, id).
    pub async fn next_status(&mut self) -> (i64, String, u64) {
        loop {
            let event = self.next(test_support::HANG_GUARD).await;
            if event.name == "status" {
                let body: Value = serde_json::from_str(&event.data).unwrap();
                return (
                    body["order"].as_i64().unwrap(),
                    body["status"].as_str().unwrap().to_owned(),
                    event.id.expect("status events carry the stream sequence"),
                );
            }
        }
    }

    /// Waits (at most `guard`, against a hang) until the server ends the stream as a response
    /// ends, not cut off.
    pub async fn ends_cleanly(&mut self, guard: Duration) {
        let end = tokio::time::timeout(guard, async {
            loop {
                match self.response.chunk().await {
                    Ok(Some(chunk)) => self.buffer.push_str(&String::from_utf8_lossy(&chunk)),
                    Ok(None) => return Ok(()),
                    Err(error) => return Err(error),
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("the stream was still open after {guard:?}"));
        end.expect("the stream ends whole, not cut off");
    }

    /// Waits (at most `guard`, against a hang) until the server ends the stream.
    pub async fn ended(&mut self, guard: Duration) {
        let waited = tokio::time::timeout(guard, async {
            loop {
                match self.response.chunk().await {
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => return,
                }
            }
        })
        .await;
        assert!(waited.is_ok(), "the stream was still open after {guard:?}");
    }
}
