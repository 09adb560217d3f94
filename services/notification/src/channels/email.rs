//! Email over SMTP with lettre (tokio, rustls on ring; no TLS for a local sink). Its settings
//! are the [`EmailSection`] below (documented in docs/configuration.md).

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MessageBuilder};
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde::{Deserialize, Serialize};
use shop_config::{ConfigError, Secret};
use tracing::Instrument;

use super::{Message, SendError};
use crate::event::OrderEvent;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    None,
    Starttls,
    Tls,
}

shop_config::setting_value_by_serde_name!(SmtpTls);

shop_config::settings_section! {
    /// Notification Service: email channel
    pub(crate) struct EmailSection {
        /// Recipient; `{username}` is replaced by the customer's name. Required with the
        /// email channel.
        notify_email_to: Option<String> = None;
        /// Sender.
        notify_email_from: String = "Shop <notifications@shop.local>".into();
        /// SMTP relay host.
        smtp_host: String = "127.0.0.1".into();
        /// SMTP relay port.
        smtp_port: u16 = 1025;
        /// `none`, `starttls` or `tls` (implicit TLS).
        smtp_tls: SmtpTls = SmtpTls::None;
        /// User name, if the relay wants credentials (set both or neither).
        smtp_username: Option<String> = None;
        /// Password, if the relay wants credentials.
        smtp_password: Option<Secret> = None;
        /// Bound on one whole send (milliseconds).
        #[range(1..)]
        smtp_timeout_ms: u64 = 5_000;
    }
}

#[derive(Debug, Clone)]
pub struct EmailConfig {
    pub to_template: String,
    pub from: Mailbox,
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub credentials: Option<(String, Secret)>,
    pub timeout: Duration,
}

impl EmailConfig {
    pub(crate) fn from_section(section: EmailSection) -> Result<Self, ConfigError> {
        let to_template = section
            .notify_email_to
            .filter(|to| !to.trim().is_empty())
            .ok_or_else(|| {
                ConfigError::new("NOTIFY_EMAIL_TO", "is required with the email channel")
            })?;
        // Checked now with a sample name, so a typo fails start-up rather than every send.
        recipient(&to_template, "sample")
            .map_err(|error| ConfigError::new("NOTIFY_EMAIL_TO", error))?;
        let from = section
            .notify_email_from
            .parse()
            .map_err(|error| ConfigError::new("NOTIFY_EMAIL_FROM", format!("{error}")))?;
        let credentials = match (section.smtp_username, section.smtp_password) {
            (Some(user), Some(password)) => Some((user, password)),
            (None, None) => None,
            _ => {
                return Err(ConfigError::new(
                    "SMTP_PASSWORD",
                    "set both SMTP_USERNAME and SMTP_PASSWORD, or neither",
                ));
            }
        };
        Ok(Self {
            to_template,
            from,
            host: section.smtp_host,
            port: section.smtp_port,
            tls: section.smtp_tls,
            credentials,
            timeout: Duration::from_millis(section.smtp_timeout_ms),
        })
    }
}

fn recipient(template: &str, username: &str) -> Result<Mailbox, String> {
    template
        .replace("{username}", username)
        .parse()
        .map_err(|error| format!("{template:?} gives no valid address: {error}"))
}

#[derive(Debug)]
pub struct EmailChannel {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    config: EmailConfig,
}

impl EmailChannel {
    pub fn new(config: &EmailConfig) -> anyhow::Result<Self> {
        let builder = match config.tls {
            SmtpTls::None => {
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(config.host.as_str())
            }
            SmtpTls::Starttls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.host)?
            }
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&config.host)?,
        };
        let mut builder = builder
            .port(config.port)
            .timeout(Some(config.timeout))
            // Pooled connections are checked before reuse, so a restarted relay costs one
            // failed check, not a failed send.
            .pool_config(PoolConfig::new().max_size(8));
        if let Some((user, password)) = &config.credentials {
            builder =
                builder.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
        }
        Ok(Self {
            transport: builder.build(),
            config: config.clone(),
        })
    }

    pub async fn send(&self, event: &OrderEvent, message: &Message) -> Result<(), SendError> {
        let order = &event.order;
        let to =
            recipient(&self.config.to_template, &order.username).map_err(SendError::Permanent)?;
        let email = MessageBuilder::new()
            .from(self.config.from.clone())
            .to(to.clone())
            .subject(message.subject.clone())
            // The event id as Message-ID lets a mailbox spot a duplicate from another replica.
            .message_id(Some(format!("<{}@notification-service>", event.event_id)))
            .header(ContentType::TEXT_PLAIN)
            .body(message.text.clone())
            .map_err(|error| SendError::Permanent(format!("cannot build the email: {error}")))?;
        let span = tracing::info_span!(
            "smtp.send",
            otel.name = "smtp send",
            otel.kind = "client",
            server.address = %self.config.host,
            server.port = self.config.port,
        );
        let sent = tokio::time::timeout(self.config.timeout, self.transport.send(email))
            .instrument(span)
            .await;
        match sent {
            Ok(Ok(_)) => {
                tracing::info!(
                    channel = "email",
                    order_id = order.id,
                    event_id = %event.event_id,
                    to = %to.email,
                    subject = %message.subject,
                    "notification sent"
                );
                Ok(())
            }
            Ok(Err(error)) if error.is_permanent() => Err(SendError::Permanent(format!(
                "SMTP refused the message: {error}"
            ))),
            Ok(Err(error)) => Err(SendError::Transient(format!("SMTP failed: {error}"))),
            Err(_) => Err(SendError::Transient(format!(
                "SMTP did not finish within {:?}",
                self.config.timeout
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recipient_template_takes_the_username() {
        let mailbox = recipient("{username}@shop.example", "alice").unwrap();
        assert_eq!(mailbox.email.to_string(), "alice@shop.example");
        assert!(recipient("no address here", "alice").is_err());
    }
}
