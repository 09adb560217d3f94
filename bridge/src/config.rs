//! The bridge's settings. Besides the common, `AMQP_*` and `NATS_*` sections it reads:
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `BRIDGE_EXCHANGE` | `order_events` | topic exchange the events are published to |
//! | `BRIDGE_QUEUE` | `order_events_bridge` | the bridge's own durable queue |
//! | `BRIDGE_BINDING_KEYS` | `#` | comma-separated binding keys of that queue |
//! | `BRIDGE_QUEUE_EXPIRES_MS` | unset | `x-expires` of the queues (tests; never in production) |
//! | `BRIDGE_MAX_IN_FLIGHT` | 256 | deliveries held at once (also the prefetch) |
//! | `BRIDGE_SUBJECT_PREFIX` | `events` | `order.created` → `events.order.created` |
//! | `BRIDGE_STREAM` | `ORDER_EVENTS` | JetStream stream, created or updated at start |
//! | `BRIDGE_STREAM_RETENTION` | `limits` | `limits`, `interest` or `workqueue` |
//! | `BRIDGE_STREAM_STORAGE` | `file` | `file` or `memory` |
//! | `BRIDGE_STREAM_MAX_AGE_SECS` | 604800 (7 days) | age after which events leave the stream; 0 = never |
//! | `BRIDGE_STREAM_MAX_BYTES` | -1 (unlimited) | size limit of the stream |
//! | `BRIDGE_DUPLICATE_WINDOW_SECS` | 900 | how long JetStream remembers a message id |

use std::collections::BTreeSet;
use std::time::Duration;

use async_nats::jetstream::stream::{
    Config as StreamConfig, DiscardPolicy, RetentionPolicy, StorageType,
};
use order_events::wire;
use serde::Deserialize;
use service_runtime::amqp::AmqpConfig;
use service_runtime::config::keys::{section_keys, setting_names as names_of};
use service_runtime::config::{CommonConfig, ConfigError, Settings, secrets};
use service_runtime::nats::NatsConfig;

pub const DEFAULT_PORT: u16 = 8005;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Retention {
    Limits,
    Interest,
    Workqueue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Storage {
    File,
    Memory,
}

/// The `BRIDGE_*` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct BridgeSettings {
    pub bridge_exchange: String,
    pub bridge_queue: String,
    pub bridge_binding_keys: String,
    pub bridge_queue_expires_ms: Option<u32>,
    pub bridge_max_in_flight: u16,
    pub bridge_subject_prefix: String,
    pub bridge_stream: String,
    pub bridge_stream_retention: Retention,
    pub bridge_stream_storage: Storage,
    pub bridge_stream_max_age_secs: u64,
    pub bridge_stream_max_bytes: i64,
    pub bridge_duplicate_window_secs: u64,
}

impl Default for BridgeSettings {
    fn default() -> Self {
        Self {
            bridge_exchange: wire::EXCHANGE.into(),
            bridge_queue: wire::BRIDGE_QUEUE.into(),
            bridge_binding_keys: "#".into(),
            bridge_queue_expires_ms: None,
            bridge_max_in_flight: 256,
            bridge_subject_prefix: wire::NATS_SUBJECT_PREFIX.into(),
            bridge_stream: wire::NATS_STREAM.into(),
            bridge_stream_retention: Retention::Limits,
            bridge_stream_storage: Storage::File,
            bridge_stream_max_age_secs: 7 * 24 * 3600,
            bridge_stream_max_bytes: -1,
            // Exactly-once holds for redeliveries within this window. It covers a RabbitMQ
            // outage between JetStream's PubAck and the AMQP ack of up to 15 minutes, at the
            // cost of remembering every message id of the last 15 minutes.
            bridge_duplicate_window_secs: 900,
        }
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
            max_messages: -1,
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
        if self.bridge_max_in_flight == 0 {
            return Err(ConfigError::new("BRIDGE_MAX_IN_FLIGHT", "must be positive"));
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
        if self.bridge_duplicate_window_secs == 0 {
            return Err(ConfigError::new(
                "BRIDGE_DUPLICATE_WINDOW_SECS",
                "must be positive: it is what makes redeliveries land once",
            ));
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

/// Every environment variable the bridge reads (deployment files are checked against it).
pub fn setting_names() -> BTreeSet<String> {
    names_of(&[
        section_keys::<CommonConfig>(),
        section_keys::<AmqpConfig>(),
        section_keys::<NatsConfig>(),
        section_keys::<BridgeSettings>(),
    ])
}

#[derive(Debug, Clone)]
pub struct BridgeConfig {
    pub common: CommonConfig,
    pub amqp: AmqpConfig,
    pub nats: NatsConfig,
    pub bridge: BridgeSettings,
}

impl BridgeConfig {
    /// Reads the process environment (and `CONFIG_FILE`).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_settings(Settings::load(DEFAULT_PORT))
    }

    pub fn from_settings(settings: Settings) -> Result<Self, ConfigError> {
        let profile = settings.extract::<CommonConfig>()?.app_profile;
        secrets::check_production(&settings, profile, &["AMQP_URL"])?;
        let settings = settings.with_default("port", DEFAULT_PORT);
        let common: CommonConfig = settings.extract()?;
        common.validate()?;
        let bridge: BridgeSettings = settings.extract()?;
        bridge.validate()?;
        Ok(Self {
            common,
            amqp: settings.extract()?,
            nats: settings.extract()?,
            bridge,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(pairs: &[(&'static str, &str)]) -> Result<BridgeConfig, ConfigError> {
        BridgeConfig::from_settings(Settings::from_pairs(
            // Production requires the URL explicitly; a test that means to leave it out
            // builds its settings itself.
            std::iter::once((
                "AMQP_URL",
                "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned(),
            ))
            .chain(pairs.iter().map(|(key, value)| (*key, (*value).to_owned()))),
        ))
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
        ] {
            let error = load(&[(key, value)]).unwrap_err();
            assert_eq!(error.key, key, "{key}={value}: {error}");
        }
    }
}
