//! The bridge's settings: the common, RabbitMQ and NATS sections, and its own
//! [`BridgeSettings`]. Every setting's default, range and meaning are in
//! docs/configuration.md, generated from these declarations.

use std::time::Duration;

use async_nats::jetstream::stream::{
    Config as StreamConfig, DiscardPolicy, RetentionPolicy, StorageType,
};
use order_events::wire;
use serde::{Deserialize, Serialize};
use shop_amqp::AmqpConfig;
use shop_config::{CommonConfig, ConfigError, ServiceConfig};
use shop_nats::NatsConfig;

pub const DEFAULT_PORT: u16 = 8005;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Retention {
    Limits,
    Interest,
    Workqueue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Storage {
    File,
    Memory,
}

shop_config::setting_value_by_serde_name!(Retention, Storage);

shop_config::settings_section! {
    /// Event bridge
    pub struct BridgeSettings {
        /// Topic exchange the order events are published to.
        pub bridge_exchange: String = wire::EXCHANGE.into();
        /// The bridge's own durable queue.
        pub bridge_queue: String = wire::BRIDGE_QUEUE.into();
        /// Comma-separated binding keys of that queue.
        pub bridge_binding_keys: String = "#".into();
        /// `x-expires` of the queues, in milliseconds (tests; never in production).
        pub bridge_queue_expires_ms: Option<u32> = None;
        /// Deliveries held at once (also the prefetch).
        #[range(1..)]
        pub bridge_max_in_flight: u16 = 256;
        /// Subject prefix: `order.created` becomes `events.order.created`.
        pub bridge_subject_prefix: String = wire::NATS_SUBJECT_PREFIX.into();
        /// JetStream stream, created or updated at start.
        pub bridge_stream: String = wire::NATS_STREAM.into();
        /// `limits`, `interest` or `workqueue`.
        pub bridge_stream_retention: Retention = Retention::Limits;
        /// `file` or `memory`.
        pub bridge_stream_storage: Storage = Storage::File;
        /// Age in seconds after which events leave the stream (7 days); 0 keeps them.
        pub bridge_stream_max_age_secs: u64 = 7 * 24 * 3600;
        /// Size limit of the stream in bytes (1 GiB); the oldest events go first. -1 is
        /// unlimited, which lets a stream nobody reads fill the NATS server's disk.
        #[range(-1..)]
        pub bridge_stream_max_bytes: i64 = 1 << 30;
        /// Events the stream keeps at most; the oldest go first. -1 is unlimited (the age and
        /// size limits still hold).
        #[range(-1..)]
        pub bridge_stream_max_msgs: i64 = -1;
        /// How long JetStream remembers a message id, in seconds. Redeliveries within it land
        /// once: 15 minutes covers a RabbitMQ outage between JetStream's PubAck and the AMQP
        /// ack, at the cost of remembering every id of the last 15 minutes.
        #[range(1..)]
        pub bridge_duplicate_window_secs: u64 = 900;
    }
}

impl BridgeSettings {
    pub fn binding_keys(&self) -> Vec<String> {
        self.bridge_binding_keys
            .split(',')
            .map(str::trim)
            .filter(|key| !key.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// The stream as the bridge wants it: every subject under the prefix.
    pub fn stream_config(&self) -> StreamConfig {
        StreamConfig {
            name: self.bridge_stream.clone(),
            subjects: vec![format!("{}.>", self.bridge_subject_prefix)],
            retention: match self.bridge_stream_retention {
                Retention::Limits => RetentionPolicy::Limits,
                Retention::Interest => RetentionPolicy::Interest,
                Retention::Workqueue => RetentionPolicy::WorkQueue,
            },
            storage: match self.bridge_stream_storage {
                Storage::File => StorageType::File,
                Storage::Memory => StorageType::Memory,
            },
            max_age: Duration::from_secs(self.bridge_stream_max_age_secs),
            max_bytes: self.bridge_stream_max_bytes,
            max_messages: self.bridge_stream_max_msgs,
            // Refusing new events would block the bridge; age and size limits drop the oldest.
            discard: DiscardPolicy::Old,
            duplicate_window: Duration::from_secs(self.bridge_duplicate_window_secs),
            description: Some("Order events mirrored from RabbitMQ by the event bridge".into()),
            ..StreamConfig::default()
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.binding_keys().is_empty() {
            return Err(ConfigError::new(
                "BRIDGE_BINDING_KEYS",
                "needs at least one key",
            ));
        }
        let prefix = &self.bridge_subject_prefix;
        if prefix.is_empty()
            || prefix
                .split('.')
                .any(|token| !crate::message::is_literal_token(token))
        {
            return Err(ConfigError::new(
                "BRIDGE_SUBJECT_PREFIX",
                "must be dot-separated tokens without spaces or wildcards",
            ));
        }
        let stream = &self.bridge_stream;
        if stream.is_empty()
            || stream
                .chars()
                .any(|c| c.is_whitespace() || matches!(c, '.' | '*' | '>' | '/' | '\\'))
        {
            return Err(ConfigError::new(
                "BRIDGE_STREAM",
                "must be a name without spaces, dots, wildcards or slashes",
            ));
        }
        // JetStream reads 0 as "no limit" here, which would surprise whoever wrote it.
        for (key, value) in [
            ("BRIDGE_STREAM_MAX_BYTES", self.bridge_stream_max_bytes),
            ("BRIDGE_STREAM_MAX_MSGS", self.bridge_stream_max_msgs),
        ] {
            if value == 0 {
                return Err(ConfigError::new(
                    key,
                    "must be positive, or -1 for unlimited",
                ));
            }
        }
        if self.bridge_stream_max_age_secs != 0
            && self.bridge_stream_max_age_secs < self.bridge_duplicate_window_secs
        {
            return Err(ConfigError::new(
                "BRIDGE_DUPLICATE_WINDOW_SECS",
                "must not exceed BRIDGE_STREAM_MAX_AGE_SECS",
            ));
        }
        Ok(())
    }
}

shop_config::service_sections! {
    /// The bridge's whole configuration: its sections as extracted, in the reference's order.
    #[derive(Debug, Clone)]
    pub struct BridgeConfig {
        pub common: CommonConfig,
        pub amqp: AmqpConfig,
        pub nats: NatsConfig,
        pub bridge: BridgeSettings,
    }
}

impl ServiceConfig for BridgeConfig {
    const BINARY: &'static str = "event-bridge";
    const DEFAULT_PORT: u16 = DEFAULT_PORT;
    const REQUIRED_IN_PRODUCTION: &'static [&'static str] = &["AMQP_URL"];

    type Sections = Self;

    fn assemble(config: Self) -> Result<Self, ConfigError> {
        config.bridge.validate()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(pairs: &[(&'static str, &str)]) -> Result<BridgeConfig, ConfigError> {
        BridgeConfig::from_settings(test_support::broker::settings_with_broker(pairs))
    }

    #[test]
    fn defaults_mirror_every_order_event_into_the_stream() {
        let config = load(&[]).unwrap();
        assert_eq!(config.common.port, DEFAULT_PORT);
        assert_eq!(config.bridge.binding_keys(), ["#"]);
        let stream = config.bridge.stream_config();
        assert_eq!(stream.name, "ORDER_EVENTS");
        assert_eq!(stream.subjects, ["events.>"]);
        assert_eq!(stream.retention, RetentionPolicy::Limits);
        assert_eq!(stream.max_age, Duration::from_secs(7 * 24 * 3600));
        assert_eq!(stream.max_bytes, 1 << 30);
        assert_eq!(stream.max_messages, -1);
        assert_eq!(stream.discard, DiscardPolicy::Old);
    }

    #[test]
    fn binding_keys_are_a_comma_separated_list() {
        let config =
            load(&[("BRIDGE_BINDING_KEYS", "order.created, order.status_changed")]).unwrap();
        assert_eq!(
            config.bridge.binding_keys(),
            ["order.created", "order.status_changed"]
        );
    }

    #[test]
    fn bad_values_name_their_key() {
        for (key, value) in [
            ("BRIDGE_SUBJECT_PREFIX", "events.*"),
            ("BRIDGE_SUBJECT_PREFIX", "two words"),
            ("BRIDGE_STREAM", "ORDER.EVENTS"),
            ("BRIDGE_MAX_IN_FLIGHT", "0"),
            ("BRIDGE_BINDING_KEYS", " , "),
            ("BRIDGE_STREAM_RETENTION", "forever"),
            ("BRIDGE_DUPLICATE_WINDOW_SECS", "0"),
            ("BRIDGE_STREAM_MAX_BYTES", "0"),
            ("BRIDGE_STREAM_MAX_MSGS", "0"),
            ("BRIDGE_STREAM_MAX_MSGS", "-2"),
        ] {
            let error = load(&[(key, value)]).unwrap_err();
            assert_eq!(error.key, key, "{key}={value}: {error}");
        }
    }
}
