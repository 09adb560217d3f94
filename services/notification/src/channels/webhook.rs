//! An HTTP webhook: the event as JSON, signed with HMAC-SHA256 so the receiver can check that
//! it came from this service and was not replayed long after.
//!
//! Its settings are the [`WebhookSection`] below (documented in docs/configuration.md).
//!
//! Headers: `X-Shop-Timestamp` (Unix seconds), `X-Shop-Signature: sha256=<hex>` over
//! `"{timestamp}.{body}"`, `X-Shop-Event-Id` and `Idempotency-Key` (the event id, the same on
//! every retry and replica) and the W3C `traceparent`.

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use serde::Serialize;
use sha2::Sha256;
use shop_config::{ConfigError, Secret};
use shop_http::http_client::HttpClient;

use super::{Message, SendError};
use crate::event::{OrderEvent, OrderSnapshot, OrderStatus};

pub const SIGNATURE_HEADER: &str = "x-shop-signature";
pub const TIMESTAMP_HEADER: &str = "x-shop-timestamp";
pub const EVENT_ID_HEADER: &str = "x-shop-event-id";

shop_config::settings_section! {
    /// Notification Service: webhook channel
    pub(crate) struct WebhookSection {
        /// Where to POST; required with the webhook channel.
        notify_webhook_url: Option<String> = None;
        /// HMAC key shared with the receiver, at least 16 bytes; required with the webhook
        /// channel.
        notify_webhook_secret: Option<Secret> = None;
        /// Bound on one whole request (milliseconds).
        #[range(1..)]
        notify_webhook_timeout_ms: u64 = 5_000;
    }
}

#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub url: reqwest::Url,
    pub secret: Secret,
    pub timeout: Duration,
}

impl WebhookConfig {
    pub(crate) fn from_section(section: WebhookSection) -> Result<Self, ConfigError> {
        let url = section
            .notify_webhook_url
            .ok_or_else(|| {
                ConfigError::new("NOTIFY_WEBHOOK_URL", "is required with the webhook channel")
            })?
            .parse::<reqwest::Url>()
            .map_err(|error| ConfigError::new("NOTIFY_WEBHOOK_URL", error.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ConfigError::new(
                "NOTIFY_WEBHOOK_URL",
                "must be an http or https URL",
            ));
        }
        let secret = section
            .notify_webhook_secret
            .filter(|secret| secret.expose().len() >= 16)
            .ok_or_else(|| {
                ConfigError::new(
                    "NOTIFY_WEBHOOK_SECRET",
                    "is required with the webhook channel, at least 16 bytes",
                )
            })?;
        Ok(Self {
            url,
            secret,
            timeout: Duration::from_millis(section.notify_webhook_timeout_ms),
        })
    }
}

/// The JSON the receiver gets.
#[derive(Debug, Serialize)]
struct WebhookBody<'a> {
    event_id: uuid::Uuid,
    event_type: &'static str,
    occurred_at: chrono::DateTime<chrono::Utc>,
    previous_status: Option<OrderStatus>,
    subject: &'a str,
    text: &'a str,
    order: &'a OrderSnapshot,
}

#[derive(Debug)]
pub struct WebhookChannel {
    client: HttpClient,
    config: WebhookConfig,
}

impl WebhookChannel {
    pub fn new(config: &WebhookConfig) -> anyhow::Result<Self> {
        Ok(Self {
            client: HttpClient::new("webhook", config.timeout)?,
            config: config.clone(),
        })
    }

    pub async fn send(&self, event: &OrderEvent, message: &Message) -> Result<(), SendError> {
        let body = serde_json::to_vec(&WebhookBody {
            event_id: event.event_id,
            event_type: event.event_type.as_str(),
            occurred_at: event.occurred_at,
            previous_status: event.previous_status,
            subject: &message.subject,
            text: &message.text,
            order: &event.order,
        })
        .map_err(|error| SendError::Permanent(format!("cannot encode the body: {error}")))?;
        let timestamp = chrono::Utc::now().timestamp();
        let signature = sign(self.config.secret.expose().as_bytes(), timestamp, &body);
        let event_id = event.event_id.to_string();
        let request = self
            .client
            .inner()
            .post(self.config.url.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(SIGNATURE_HEADER, signature)
            .header(EVENT_ID_HEADER, &event_id)
            .header("idempotency-key", &event_id)
            .body(body)
            .build()
            .map_err(|error| SendError::Permanent(format!("cannot build the request: {error}")))?;
        let response = self
            .client
            .send(request)
            .await
            .map_err(|error| SendError::Transient(format!("webhook unreachable: {error}")))?;
        let status = response.status();
        if status.is_success() {
            tracing::info!(
                channel = "webhook",
                order_id = event.order.id,
                event_id = %event.event_id,
                status = status.as_u16(),
                "notification sent"
            );
            return Ok(());
        }
        let failure = format!("webhook answered {status}");
        if retryable(status) {
            Err(SendError::Transient(failure))
        } else {
            Err(SendError::Permanent(failure))
        }
    }
}

/// Server trouble and throttling pass; any other client error would fail the same way again.
fn retryable(status: StatusCode) -> bool {
    status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
}

/// `sha256=` and the hex HMAC-SHA256 of `"{timestamp}.{body}"` under `secret`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let mut text = String::with_capacity(7 + digest.len() * 2);
    text.push_str("sha256=");
    for byte in digest {
        text.push(char::from(HEX[usize::from(byte >> 4)]));
        text.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    text
}

const HEX: &[u8; 16] = b"0123456789abcdef";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_an_independent_hmac_sha256() {
        // Computed with: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac 'key'
        assert_eq!(
            sign(b"key", 1_700_000_000, br#"{"a":1}"#),
            "sha256=a438e398bfafc57e4396bb7fc2304422f0f768e965d073ca313cb52e22e6ad03"
        );
    }

    #[test]
    fn server_errors_and_throttling_are_retried() {
        assert!(retryable(StatusCode::BAD_GATEWAY));
        assert!(retryable(StatusCode::TOO_MANY_REQUESTS));
        assert!(!retryable(StatusCode::BAD_REQUEST));
        assert!(!retryable(StatusCode::UNAUTHORIZED));
    }
}
