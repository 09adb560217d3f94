//! The contract as documents, generated from the types so they cannot drift from the code:
//! a JSON Schema of the body (`docs/events.schema.json`) and an AsyncAPI 3.0 description of
//! the exchange and the NATS subjects (`docs/asyncapi.json`). The `docs` test of this crate
//! compares the files with these functions and rewrites them on request.

use schemars::Schema;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use crate::envelope::{EventType, OrderEvent, SCHEMA_VERSION};
use crate::wire;

/// Where the documents live, relative to the workspace root.
pub const SCHEMA_PATH: &str = "docs/events.schema.json";
pub const ASYNCAPI_PATH: &str = "docs/asyncapi.json";

/// The JSON Schema (draft 2020-12) of an event body, pretty-printed.
pub fn json_schema() -> String {
    let mut schema = schemars::schema_for!(OrderEvent);
    schema.insert(
        "$id".into(),
        json!("https://shop.example/schemas/order-event-v1.json"),
    );
    pretty(&schema.to_value())
}

/// The AsyncAPI 3.0 document, pretty-printed.
pub fn asyncapi() -> String {
    // AsyncAPI schemas are JSON Schema draft-07; definitions go where the document keeps them.
    let mut generator = SchemaSettings::draft07()
        .with(|settings| settings.definitions_path = "/components/schemas".into())
        .into_generator();
    let body: Schema = generator.subschema_for::<OrderEvent>();
    let mut schemas: Map<String, Value> = generator.take_definitions(true);
    schemas.insert("AmqpHeaders".into(), amqp_headers());
    schemas.insert("NatsHeaders".into(), nats_headers());
    let mut channels = Map::new();
    let mut operations = Map::new();
    let mut messages = Map::new();
    for kind in EventType::ALL {
        let name = message_name(kind);
        let mirrored = format!("{name}Mirrored");
        messages.insert(name.clone(), message(kind, &body, "AmqpHeaders"));
        messages.insert(mirrored.clone(), message(kind, &body, "NatsHeaders"));
        channels.insert(format!("{name}Amqp"), amqp_channel(kind, &name));
        channels.insert(format!("{name}Nats"), nats_channel(kind, &mirrored));
        operations.insert(
            format!("publish{}", capitalised(&name)),
            operation("send", &format!("{name}Amqp"), &name, publish_text(kind)),
        );
        operations.insert(
            format!("mirror{}", capitalised(&name)),
            operation("send", &format!("{name}Nats"), &mirrored, MIRROR_TEXT),
        );
    }
    operations.insert(
        "notifyOrderCreated".into(),
        operation(
            "receive",
            "orderCreatedAmqp",
            "orderCreated",
            "The Notification Service consumes order.created from its queue order_notifications.",
        ),
    );
    let document = json!({
        "asyncapi": "3.0.0",
        "info": {
            "title": "Order events",
            "version": SCHEMA_VERSION.to_string(),
            "description": "Every change of an order, published by the Order Service from its \
                transactional outbox to RabbitMQ (at least once, in order per order; consumers \
                deduplicate on message_id = event_id) and mirrored by the event bridge onto NATS \
                JetStream (stream ORDER_EVENTS, stored once per event id). Generated from the \
                order-events crate; see docs/events.md.",
        },
        "defaultContentType": wire::CONTENT_TYPE,
        "servers": {
            "rabbitmq": {
                "host": "localhost:5672",
                "protocol": "amqp",
                "protocolVersion": "0.9.1",
                "description": format!("The durable topic exchange {}.", wire::EXCHANGE),
            },
            "nats": {
                "host": "localhost:4222",
                "protocol": "nats",
                "description": format!(
                    "JetStream stream {} (subjects {}.>), written by the event bridge.",
                    wire::NATS_STREAM, wire::NATS_SUBJECT_PREFIX
                ),
            },
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    });
    pretty(&document)
}

const MIRROR_TEXT: &str = "The event bridge consumes every routing key from its queue \
    order_events_bridge and publishes the body unchanged to JetStream, with Nats-Msg-Id = \
    message_id, in order per order (an order's events keep their relative order across \
    routing keys).";

fn publish_text(kind: EventType) -> &'static str {
    match kind {
        EventType::OrderCreated => "The Order Service publishes this when an order is placed.",
        EventType::OrderStatusChanged => {
            "The Order Service publishes this when an order's status changes."
        }
        EventType::OrderDeleted => {
            "The Order Service publishes this when a pending or cancelled order is deleted."
        }
    }
}

/// `order.status_changed` → `orderStatusChanged`.
fn message_name(kind: EventType) -> String {
    let mut name = String::new();
    for (index, word) in kind.as_str().split(['.', '_']).enumerate() {
        name.push_str(&if index == 0 {
            word.to_owned()
        } else {
            capitalised(word)
        });
    }
    name
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

fn message(kind: EventType, body: &Schema, headers: &str) -> Value {
    json!({
        "name": kind.as_str(),
        "title": kind.as_str(),
        "summary": publish_text(kind),
        "contentType": wire::CONTENT_TYPE,
        "correlationId": {
            "description": "The event id, also the AMQP message_id and the NATS Nats-Msg-Id.",
            "location": "$message.payload#/event_id",
        },
        "headers": {"$ref": format!("#/components/schemas/{headers}")},
        "payload": body.clone().to_value(),
        "bindings": {
            "amqp": {"messageType": kind.as_str(), "bindingVersion": "0.3.0"},
        },
    })
}

fn amqp_channel(kind: EventType, message: &str) -> Value {
    json!({
        "address": kind.as_str(),
        "title": format!("{} on {}", kind.as_str(), wire::EXCHANGE),
        "servers": [{"$ref": "#/servers/rabbitmq"}],
        "messages": {message: {"$ref": format!("#/components/messages/{message}")}},
        "bindings": {
            "amqp": {
                "is": "routingKey",
                "exchange": {
                    "name": wire::EXCHANGE,
                    "type": "topic",
                    "durable": true,
                    "autoDelete": false,
                    "vhost": "/",
                },
                "bindingVersion": "0.3.0",
            },
        },
    })
}

fn nats_channel(kind: EventType, message: &str) -> Value {
    json!({
        "address": wire::nats_subject(wire::NATS_SUBJECT_PREFIX, kind.as_str()),
        "title": format!("{} mirrored to JetStream", kind.as_str()),
        "servers": [{"$ref": "#/servers/nats"}],
        "messages": {message: {"$ref": format!("#/components/messages/{message}")}},
    })
}

fn operation(action: &str, channel: &str, message: &str, description: &str) -> Value {
    json!({
        "action": action,
        "description": description,
        "channel": {"$ref": format!("#/channels/{channel}")},
        "messages": [{"$ref": format!("#/channels/{channel}/messages/{message}")}],
    })
}

/// The headers a published event carries besides its standard properties (content_type,
/// delivery_mode 2, message_id = event_id, type = event_type, timestamp, app_id).
fn amqp_headers() -> Value {
    json!({
        "type": "object",
        "required": [wire::SCHEMA_VERSION_HEADER],
        "properties": {
            wire::SCHEMA_VERSION_HEADER: {
                "type": "string",
                "description": "The body's schema_version, as a string.",
                "const": SCHEMA_VERSION.to_string(),
            },
            wire::TRACEPARENT_HEADER: {
                "type": "string",
                "description": "W3C trace context of the request that caused the event.",
            },
            wire::TRACESTATE_HEADER: {"type": "string"},
        },
    })
}

/// The headers of a mirrored message: the AMQP headers with a text value, plus the bridge's.
fn nats_headers() -> Value {
    let mut headers = amqp_headers();
    let properties = headers["properties"]
        .as_object_mut()
        .expect("amqp_headers has properties");
    for (name, description) in [
        (
            wire::NATS_MSG_ID_HEADER,
            "The AMQP message_id (the event id): JetStream stores each event once.",
        ),
        ("Content-Type", "The AMQP content_type."),
        (
            wire::NATS_AMQP_TYPE_HEADER,
            "The AMQP type property (the event type).",
        ),
        (wire::NATS_ROUTING_KEY_HEADER, "The AMQP routing key."),
    ] {
        properties.insert(
            name.into(),
            json!({"type": "string", "description": description}),
        );
    }
    headers["required"] = json!([
        wire::NATS_MSG_ID_HEADER,
        wire::NATS_ROUTING_KEY_HEADER,
        wire::SCHEMA_VERSION_HEADER
    ]);
    headers
}

fn pretty(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("JSON values always serialize");
    text.push('\n');
    text
}
