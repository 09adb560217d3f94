//! The binary, not the library: a bad setting stops it before it serves, naming the key.

#[tokio::test]
async fn the_binary_refuses_a_bad_setting_naming_it() {
    let binary = env!("CARGO_BIN_EXE_order-service");
    test_support::startup::assert_refuses_setting(binary, "PORT", "eighty").await;
    test_support::startup::assert_refuses_setting(binary, "OUTBOX_BATCH_SIZE", "many").await;
}
