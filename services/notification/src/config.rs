//! The Notification Service's settings: the common and RabbitMQ sections, its own consumer
//! section, and the email and webhook channels' sections (in [`crate::channels`]). Every
//! setting's default, range and meaning are in docs/configuration.md, generated from these
//! declarations.

use std::time::Duration;

use shop_amqp::AmqpConfig;
use shop_config::{CommonConfig, ConfigError, Deferred, ServiceConfig};

pub use crate::channels::ChannelKind;
use crate::channels::email::{EmailConfig, EmailSection};
use crate::channels::webhook::{WebhookConfig, WebhookSection};
use crate::queues::{QueueNames, RetryPolicy};
use crate::shared_dedup::{SharedDedupConfig, SharedDedupSection};
use shop_redis::RedisConfig;

pub const DEFAULT_PORT: u16 = 8004;

shop_config::settings_section! {
    /// Notification Service: consumer
    struct ConsumerSection {
        /// Topic exchange the order events arrive on.
        notify_exchange: String = "order_events".into();
        /// Work queue; its delay and dead-letter queues are named after it.
        notify_queue: String = "order_notifications".into();
        /// Comma-separated binding keys (`order.status_changed` is understood too).
        notify_routing_keys: String = "order.created".into();
        /// Deliveries in hand at once per replica, handled concurrently.
        #[range(1..)]
        notify_prefetch: u16 = 16;
        /// Sends of one event, the first included, before it is dead-lettered.
        #[range(1..=20)]
        notify_max_attempts: u32 = 5;
        /// Delay before the first retry, doubling per attempt (milliseconds).
        #[range(1..)]
        notify_retry_delay_ms: u64 = 1_000;
        /// Cap on that delay (milliseconds), at least `NOTIFY_RETRY_DELAY_MS`.
        notify_retry_max_delay_ms: u64 = 60_000;
        /// How long a delivered event id is remembered, in seconds.
        notify_dedup_window_secs: u64 = 600;
        /// Most event ids remembered at once.
        #[range(1..)]
        notify_dedup_capacity: usize = 100_000;
        /// Tests and throwaway environments only: every queue gets this `x-expires`
        /// (milliseconds).
        notify_queue_expires_ms: Option<u32> = None;
        /// Comma-separated channels each event is sent through, in order: `log`, `email`,
        /// `webhook`.
        notify_channels: String = "log".into();
    }
}

/// Where events come from and what happens to one that cannot be handled yet.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    pub names: QueueNames,
    pub routing_keys: Vec<String>,
    pub prefetch: u16,
    pub retry: RetryPolicy,
    pub dedup_window: Duration,
    pub dedup_capacity: usize,
    /// `x-expires` for every queue, for throwaway set-ups.
    pub queue_expires_ms: Option<u32>,
}

shop_config::service_sections! {
    /// What the Notification Service reads, in the reference's order. The sections of a
    /// channel or a record store that is off are deferred: their values are not read then.
    #[derive(Debug)]
    pub struct NotificationSections {
        common: CommonConfig,
        amqp: AmqpConfig,
        consumer: ConsumerSection,
        email: Deferred<EmailSection>,
        webhook: Deferred<WebhookSection>,
        shared_dedup: SharedDedupSection,
        redis: Deferred<RedisConfig>,
    }
}

#[derive(Debug, Clone)]
pub struct NotificationConfig {
    pub common: CommonConfig,
    pub amqp: AmqpConfig,
    pub consumer: ConsumerConfig,
    /// Each event is sent through every one of these, in this order.
    pub channels: Vec<ChannelKind>,
    /// Present when the email channel is on.
    pub email: Option<EmailConfig>,
    /// Present when the webhook channel is on.
    pub webhook: Option<WebhookConfig>,
    /// Present when replicas share their dedup record in Redis.
    pub shared_dedup: Option<SharedDedupConfig>,
}

impl ServiceConfig for NotificationConfig {
    const BINARY: &'static str = "notification-service";
    const DEFAULT_PORT: u16 = DEFAULT_PORT;
    const REQUIRED_IN_PRODUCTION: &'static [&'static str] = &["AMQP_URL"];

    type Sections = NotificationSections;

    fn assemble(sections: NotificationSections) -> Result<Self, ConfigError> {
        let NotificationSections {
            common,
            amqp,
            consumer,
            email,
            webhook,
            shared_dedup,
            redis,
        } = sections;
        let channels = parse_channels(&consumer.notify_channels)?;
        let email = if channels.contains(&ChannelKind::Email) {
            Some(EmailConfig::from_section(email.take()?)?)
        } else {
            None
        };
        let webhook = if channels.contains(&ChannelKind::Webhook) {
            Some(WebhookConfig::from_section(webhook.take()?)?)
        } else {
            None
        };
        Ok(Self {
            common,
            amqp,
            consumer: consumer_config(consumer)?,
            channels,
            email,
            webhook,
            shared_dedup: SharedDedupConfig::from_sections(shared_dedup, redis)?,
        })
    }
}

fn consumer_config(section: ConsumerSection) -> Result<ConsumerConfig, ConfigError> {
    for (key, value) in [
        ("NOTIFY_EXCHANGE", &section.notify_exchange),
        ("NOTIFY_QUEUE", &section.notify_queue),
    ] {
        if value.trim().is_empty() {
            return Err(ConfigError::new(key, "must not be empty"));
        }
    }
    let routing_keys = comma_list(&section.notify_routing_keys);
    if routing_keys.is_empty() {
        return Err(ConfigError::new(
            "NOTIFY_ROUTING_KEYS",
            "name at least one key",
        ));
    }
    if section.notify_retry_max_delay_ms < section.notify_retry_delay_ms {
        return Err(ConfigError::new(
            "NOTIFY_RETRY_MAX_DELAY_MS",
            "must be at least NOTIFY_RETRY_DELAY_MS",
        ));
    }
    Ok(ConsumerConfig {
        names: QueueNames::new(section.notify_exchange.trim(), section.notify_queue.trim()),
        routing_keys,
        prefetch: section.notify_prefetch,
        retry: RetryPolicy {
            max_attempts: section.notify_max_attempts,
            base_delay: Duration::from_millis(section.notify_retry_delay_ms),
            max_delay: Duration::from_millis(section.notify_retry_max_delay_ms),
        },
        dedup_window: Duration::from_secs(section.notify_dedup_window_secs),
        dedup_capacity: section.notify_dedup_capacity,
        queue_expires_ms: section.notify_queue_expires_ms,
    })
}

fn parse_channels(list: &str) -> Result<Vec<ChannelKind>, ConfigError> {
    let mut channels = Vec::new();
    for name in comma_list(list) {
        let kind = ChannelKind::parse(&name).ok_or_else(|| {
            ConfigError::new(
                "NOTIFY_CHANNELS",
                format!("unknown channel {name:?}; choose from log, email, webhook"),
            )
        })?;
        if !channels.contains(&kind) {
            channels.push(kind);
        }
    }
    if channels.is_empty() {
        return Err(ConfigError::new("NOTIFY_CHANNELS", "name at least one"));
    }
    Ok(channels)
}

fn comma_list(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(pairs: &[(&'static str, &str)]) -> Result<NotificationConfig, ConfigError> {
        NotificationConfig::from_settings(test_support::broker::settings_with_broker(pairs))
    }

    #[test]
    fn defaults_follow_the_contract() {
        let config = load(&[]).unwrap();
        assert_eq!(config.common.port, DEFAULT_PORT);
        assert_eq!(config.consumer.names.exchange, "order_events");
        assert_eq!(config.consumer.names.queue, "order_notifications");
        assert_eq!(config.consumer.routing_keys, ["order.created"]);
        assert_eq!(config.channels, [ChannelKind::Log]);
        assert!(config.email.is_none() && config.webhook.is_none());
    }

    #[test]
    fn channels_and_keys_are_comma_lists() {
        let config = load(&[
            ("NOTIFY_CHANNELS", "log, webhook"),
            ("NOTIFY_WEBHOOK_URL", "http://127.0.0.1:9/hook"),
            ("NOTIFY_WEBHOOK_SECRET", "0123456789abcdef0123"),
            ("NOTIFY_ROUTING_KEYS", "order.created,order.status_changed"),
        ])
        .unwrap();
        assert_eq!(config.channels, [ChannelKind::Log, ChannelKind::Webhook]);
        assert_eq!(config.consumer.routing_keys.len(), 2);
        assert!(config.webhook.is_some());
    }

    /// The sections of a channel or a record store that is off are deferred: a bad value in one
    /// must not stop start-up while it is off, and must once it is on.
    #[test]
    fn settings_of_what_is_off_are_read_only_once_it_is_on() {
        let email_on: [(&'static str, &str); 2] = [
            ("NOTIFY_CHANNELS", "email"),
            ("NOTIFY_EMAIL_TO", "{username}@shop.test"),
        ];
        let webhook_on: [(&'static str, &str); 3] = [
            ("NOTIFY_CHANNELS", "webhook"),
            ("NOTIFY_WEBHOOK_URL", "http://127.0.0.1:9/hook"),
            ("NOTIFY_WEBHOOK_SECRET", "0123456789abcdef0123"),
        ];
        let redis_on: [(&'static str, &str); 1] = [("NOTIFY_DEDUP_STORE", "redis")];
        for (on, bad) in [
            (&email_on[..], ("SMTP_PORT", "twenty-five")),
            (&webhook_on[..], ("NOTIFY_WEBHOOK_TIMEOUT_MS", "0")),
            (&redis_on[..], ("REDIS_TIMEOUT_MS", "soon")),
        ] {
            load(&[bad]).unwrap_or_else(|error| panic!("{bad:?} read while off: {error}"));
            let pairs: Vec<_> = on.iter().copied().chain([bad]).collect();
            assert_eq!(load(&pairs).unwrap_err().key, bad.0, "{pairs:?}");
        }
    }

    #[test]
    fn the_redis_section_reaches_the_shared_record() {
        let config = load(&[
            ("NOTIFY_DEDUP_STORE", "redis"),
            ("REDIS_URL", "redis://dedup.shop.test:6390"),
        ])
        .unwrap();
        let shared = config.shared_dedup.expect("the record is in Redis");
        assert_eq!(
            shared.redis.redis_url.expose(),
            "redis://dedup.shop.test:6390"
        );
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases: [(&[(&'static str, &str)], &str); 6] = [
            (&[("NOTIFY_CHANNELS", "sms")], "NOTIFY_CHANNELS"),
            (&[("NOTIFY_PREFETCH", "0")], "NOTIFY_PREFETCH"),
            (&[("NOTIFY_MAX_ATTEMPTS", "0")], "NOTIFY_MAX_ATTEMPTS"),
            (&[("NOTIFY_CHANNELS", "email")], "NOTIFY_EMAIL_TO"),
            (&[("NOTIFY_CHANNELS", "webhook")], "NOTIFY_WEBHOOK_URL"),
            (
                &[
                    ("NOTIFY_CHANNELS", "webhook"),
                    ("NOTIFY_WEBHOOK_URL", "http://127.0.0.1:9/hook"),
                    ("NOTIFY_WEBHOOK_SECRET", "short"),
                ],
                "NOTIFY_WEBHOOK_SECRET",
            ),
        ];
        for (pairs, key) in cases {
            assert_eq!(load(pairs).unwrap_err().key, key, "{pairs:?}");
        }
    }
}
