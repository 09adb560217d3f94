//! The binary, not the library: a bad setting stops it before it serves, naming the key.

#[tokio::test]
async fn the_binary_refuses_a_bad_setting_naming_it() {
    let binary = env!("CARGO_BIN_EXE_order-service");
    test_infra::startup::assert_refuses_setting(binary, "PORT", "eighty").await;
    test_infra::startup::assert_refuses_setting(binary, "OUTBOX_BATCH_SIZE", "many").await;
}

/// Under the production profile the binary refuses a secret this repository publishes: the
/// development service token would let anyone reserve and release stock.
#[tokio::test]
async fn the_binary_refuses_published_secrets_naming_the_setting() {
    let binary = env!("CARGO_BIN_EXE_order-service");
    // What production requires, every value acceptable; nothing here is ever connected to.
    let broker_password = uuid::Uuid::new_v4().simple().to_string();
    let required = [
        (
            "DATABASE_URL",
            "postgres://orders@127.0.0.1:1/orders".to_owned(),
        ),
        (
            "AMQP_URL",
            format!("amqp://shop-order:{broker_password}@127.0.0.1:1/%2f"),
        ),
        ("SERVICE_TOKEN", test_support::TEST_SERVICE_TOKEN.clone()),
    ];
    for (key, value) in [
        ("SERVICE_TOKEN", "dev-service-token"),
        ("AMQP_URL", "amqp://shop-order:changeme@127.0.0.1:1/%2f"),
    ] {
        let others: Vec<(&str, &str)> = required
            .iter()
            .filter(|(other, _)| *other != key)
            .map(|(other, value)| (*other, value.as_str()))
            .collect();
        test_infra::startup::assert_refuses_published_secret(binary, &others, key, value).await;
    }
}
