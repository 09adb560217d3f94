//! Where events travel and how they are labelled. On RabbitMQ: one durable topic exchange, the
//! event type as routing key, and the message properties below. On NATS JetStream: the bridge
//! mirrors each event under `events.<routing key>`, body unchanged.

/// The durable topic exchange every order event is published to.
pub const EXCHANGE: &str = "order_events";
/// The Notification Service's work queue (bound with `order.created`).
pub const NOTIFICATION_QUEUE: &str = "order_notifications";
/// The bridge's queue (bound with `#`).
pub const BRIDGE_QUEUE: &str = "order_events_bridge";

/// The `content_type` property.
pub const CONTENT_TYPE: &str = "application/json";
/// The `app_id` property.
pub const APP_ID: &str = "order-service";
/// The `delivery_mode` property: persistent.
pub const PERSISTENT: u8 = 2;

/// Header carrying the body's `schema_version`, as a string.
pub const SCHEMA_VERSION_HEADER: &str = "x-schema-version";
/// W3C trace context of the request that caused the event.
pub const TRACEPARENT_HEADER: &str = "traceparent";
pub const TRACESTATE_HEADER: &str = "tracestate";

/// The JetStream stream the bridge mirrors into.
pub const NATS_STREAM: &str = "ORDER_EVENTS";
/// The bridge's subject prefix: `order.created` becomes `events.order.created`.
pub const NATS_SUBJECT_PREFIX: &str = "events";
/// JetStream's de-duplication header; the bridge sets it to the AMQP `message_id`.
pub const NATS_MSG_ID_HEADER: &str = "Nats-Msg-Id";
/// The AMQP `type` property, on the mirrored message.
pub const NATS_AMQP_TYPE_HEADER: &str = "Amqp-Type";
/// The AMQP routing key, on the mirrored message.
pub const NATS_ROUTING_KEY_HEADER: &str = "Amqp-Routing-Key";

/// The NATS subject an event with `routing_key` is mirrored to under `prefix`.
pub fn nats_subject(prefix: &str, routing_key: &str) -> String {
    format!("{prefix}.{routing_key}")
}
