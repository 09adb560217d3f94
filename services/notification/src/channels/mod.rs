//! The ways a notification goes out, chosen by `NOTIFY_CHANNELS`: [`log`] (the default),
//! [`email`] over SMTP and [`webhook`] over HTTP. A failure is [`SendError::Transient`] when
//! trying later may succeed (a server down, a timeout, a 5xx) and [`SendError::Permanent`] when
//! it cannot (a rejected recipient, a 4xx): the first is retried, the second dead-lettered.

pub mod email;
pub mod log;
pub mod webhook;

use std::sync::Arc;

use crate::event::{EventType, OrderEvent, OrderStatus};

/// A way of notifying.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChannelKind {
    Log,
    Email,
    Webhook,
}

impl ChannelKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Log => "log",
            Self::Email => "email",
            Self::Webhook => "webhook",
        }
    }

    pub(crate) fn parse(name: &str) -> Option<Self> {
        match name {
            "log" => Some(Self::Log),
            "email" => Some(Self::Email),
            "webhook" => Some(Self::Webhook),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("transient: {0}")]
    Transient(String),
    #[error("permanent: {0}")]
    Permanent(String),
}

/// One configured channel.
#[derive(Debug)]
pub enum Channel {
    Log(log::LogChannel),
    Email(email::EmailChannel),
    Webhook(webhook::WebhookChannel),
}

impl Channel {
    /// The channels of `kinds`, in their order; `email` and `webhook` are the settings of
    /// those channels (present when their kind is listed: the configuration checks that).
    pub fn open_all(
        kinds: &[ChannelKind],
        email: Option<&email::EmailConfig>,
        webhook: Option<&webhook::WebhookConfig>,
    ) -> anyhow::Result<Vec<Arc<Self>>> {
        kinds
            .iter()
            .map(|kind| {
                let channel = match kind {
                    ChannelKind::Log => Self::Log(log::LogChannel),
                    ChannelKind::Email => Self::Email(email::EmailChannel::new(
                        email.expect("validated with the email channel"),
                    )?),
                    ChannelKind::Webhook => Self::Webhook(webhook::WebhookChannel::new(
                        webhook.expect("validated with the webhook channel"),
                    )?),
                };
                Ok(Arc::new(channel))
            })
            .collect()
    }

    pub fn kind(&self) -> ChannelKind {
        match self {
            Self::Log(_) => ChannelKind::Log,
            Self::Email(_) => ChannelKind::Email,
            Self::Webhook(_) => ChannelKind::Webhook,
        }
    }

    pub async fn send(&self, event: &OrderEvent) -> Result<(), SendError> {
        let message = Message::render(event);
        match self {
            Self::Log(channel) => {
                channel.send(event, &message);
                Ok(())
            }
            Self::Email(channel) => channel.send(event, &message).await,
            Self::Webhook(channel) => channel.send(event, &message).await,
        }
    }
}

/// What a person reads, the same on every channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub subject: String,
    pub text: String,
}

impl Message {
    pub fn render(event: &OrderEvent) -> Self {
        let order = &event.order;
        match event.event_type {
            EventType::OrderCreated => Self {
                subject: format!("Order #{} received", order.id),
                text: format!(
                    "Hello {}, we received your order #{}: {} x {} at {} = {}. Status: {}.",
                    order.username,
                    order.id,
                    order.quantity,
                    order.product_name,
                    order.unit_price,
                    order.total_price,
                    order.status,
                ),
            },
            EventType::OrderStatusChanged => Self {
                subject: format!("Order #{} is {}", order.id, order.status),
                text: format!(
                    "Hello {}, your order #{} ({} x {}) changed from {} to {}.",
                    order.username,
                    order.id,
                    order.quantity,
                    order.product_name,
                    event.previous_status.map_or("unknown", OrderStatus::as_str),
                    order.status,
                ),
            },
            // Not in `event::HANDLED` (dead-lettered on arrival); worded for completeness.
            EventType::OrderDeleted => Self {
                subject: format!("Order #{} deleted", order.id),
                text: format!(
                    "Hello {}, your order #{} ({} x {}) was deleted.",
                    order.username, order.id, order.quantity, order.product_name,
                ),
            },
        }
    }
}
