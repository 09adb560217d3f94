//! The generated documents in `docs/` match the types. After changing the contract, regenerate
//! them with `cargo xtask docs`, which runs the ignored writer below.

use std::path::PathBuf;

use order_events::docs;

fn path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative)
}

/// Compares only: a check that could also write would turn a drift into a pass.
fn check(relative: &str, generated: &str) {
    let on_disk = std::fs::read_to_string(path(relative)).unwrap_or_default();
    assert!(
        on_disk == generated,
        "{relative} is out of date with the event types in crates/order-events/; regenerate it with \
         `cargo xtask docs` and commit the result"
    );
}

/// Not a check: writes the documents for `cargo xtask docs`. Ignored so that a test run never
/// rewrites the files the checks above compare.
#[test]
#[ignore = "writes docs/; run by `cargo xtask docs`"]
fn write_the_generated_documents() {
    for (relative, generated) in [
        (docs::SCHEMA_PATH, docs::json_schema()),
        (docs::ASYNCAPI_PATH, docs::asyncapi()),
    ] {
        std::fs::write(path(relative), generated).unwrap();
    }
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
