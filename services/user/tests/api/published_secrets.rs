//! The real binary under the production profile refuses to start with a secret this repository
//! publishes (its own development defaults, the examples' placeholders): a deployment started
//! from a copied `.env.example` would otherwise run with a forgeable JWT or a known admin
//! password.

use test_infra::startup::assert_refuses_published_secret;

/// What production requires, every value acceptable; nothing here is ever connected to.
fn required() -> Vec<(&'static str, String)> {
    vec![
        (
            "DATABASE_URL",
            "postgres://users@127.0.0.1:1/users".to_owned(),
        ),
        ("REDIS_URL", "redis://127.0.0.1:1".to_owned()),
        ("JWT_SECRET", test_support::TEST_JWT_SECRET.clone()),
        ("BOOTSTRAP_ADMIN_USERNAME", "root".to_owned()),
        (
            "BOOTSTRAP_ADMIN_PASSWORD",
            test_support::TEST_JWT_SECRET.clone(),
        ),
    ]
}

#[tokio::test]
async fn the_binary_refuses_published_secrets_naming_the_setting() {
    let binary = env!("CARGO_BIN_EXE_user-service");
    for (key, value) in [
        (
            "JWT_SECRET",
            "development-only-jwt-secret-never-use-in-production",
        ),
        (
            "JWT_SECRET",
            "dev-only-jwt-secret-from-the-env-example-0123456789",
        ),
        ("BOOTSTRAP_ADMIN_PASSWORD", "admin-password"),
        (
            "DATABASE_URL",
            "postgres://users:changeme@127.0.0.1:1/users",
        ),
    ] {
        let required = required();
        let others: Vec<(&str, &str)> = required
            .iter()
            .filter(|(other, _)| *other != key)
            .map(|(other, value)| (*other, value.as_str()))
            .collect();
        assert_refuses_published_secret(binary, &others, key, value).await;
    }
}
