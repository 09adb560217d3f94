//! The generated documents in `docs/` match the types. After changing the contract, regenerate
//! them with `UPDATE_EVENT_DOCS=1 cargo test -p order-events --test docs`.

use std::path::PathBuf;

use order_events::docs;

fn check(relative: &str, generated: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative);
    if std::env::var_os("UPDATE_EVENT_DOCS").is_some() {
        std::fs::write(&path, generated).unwrap();
        return;
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == generated,
        "{relative} is out of date with the event types in events/; regenerate it with \
         `UPDATE_EVENT_DOCS=1 cargo test -p order-events --test docs` and commit the result"
    );
}

#[test]
fn the_json_schema_matches_the_types() {
    check(docs::SCHEMA_PATH, &docs::json_schema());
}

#[test]
fn the_asyncapi_document_matches_the_types() {
    check(docs::ASYNCAPI_PATH, &docs::asyncapi());
}

#[test]
fn the_schema_accepts_names_the_types_accept() {
    let schema: serde_json::Value = serde_json::from_str(&docs::json_schema()).unwrap();
    let statuses = &schema["$defs"]["OrderStatus"]["enum"];
    assert_eq!(
        statuses,
        &serde_json::json!(["pending", "confirmed", "shipped", "completed", "cancelled"])
    );
    let document: serde_json::Value = serde_json::from_str(&docs::asyncapi()).unwrap();
    assert_eq!(document["asyncapi"], "3.0.0");
    assert_eq!(
        document["channels"]["orderStatusChangedNats"]["address"],
        "events.order.status_changed"
    );
}
