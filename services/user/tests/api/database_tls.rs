//! TLS to PostgreSQL: a private server that accepts only TLS, with a CA made for the test.

use test_infra::postgres_server::PrivatePostgres;
use test_infra::startup::run_refusing;
use test_support::UserServiceHandle;

const BINARY: &str = env!("CARGO_BIN_EXE_user-service");

fn database_name() -> String {
    format!("test_users_tls_{}", uuid::Uuid::new_v4().simple())
}

/// The service started over `url` (and `extra`) registers and logs a user in.
async fn assert_serves(url: &str, extra: &[(&'static str, &str)]) {
    let settings: Vec<(&'static str, &str)> = [("DATABASE_URL", url)]
        .into_iter()
        .chain(extra.iter().copied())
        .collect();
    let users = UserServiceHandle::start_with(&settings).await;
    users.register("tess", "password-1").await;
    users.login("tess", "password-1").await;
}

/// The binary started over `url` exits 1 at once, with one line that names `DATABASE_URL` and
/// contains `why`.
async fn assert_refused(url: &str, ca_file: &str, why: &str) {
    let (code, stderr) = run_refusing(
        BINARY,
        &[
            ("APP_PROFILE", "development"),
            ("DATABASE_URL", url),
            ("DATABASE_CA_FILE", ca_file),
        ],
    )
    .await;
    assert_eq!(code, Some(1), "{url}: {stderr}");
    assert!(
        stderr.contains("DATABASE_URL"),
        "names the setting: {stderr}"
    );
    assert!(stderr.contains(why), "says why ({why}): {stderr}");
    assert!(!stderr.contains("panicked"), "no panic: {stderr}");
}

#[tokio::test]
async fn sslmode_require_connects_to_a_tls_only_server_and_disable_is_refused() {
    let postgres = PrivatePostgres::start_tls_only();
    assert_serves(&postgres.url(&database_name(), "sslmode=require"), &[]).await;

    let plain = postgres.url(&database_name(), "sslmode=disable");
    assert_refused(&plain, "", "no encryption").await;
    // The default (no sslmode) is plain text too, as before.
    let default = plain.replace("?sslmode=disable", "");
    assert_refused(&default, "", "no encryption").await;
}

#[tokio::test]
async fn verify_full_checks_the_ca_and_the_host_and_verify_ca_only_the_ca() {
    let postgres = PrivatePostgres::start_tls_only();
    let ca_file = postgres.ca_file.to_str().unwrap().to_owned();
    let foreign_ca_file = postgres.foreign_ca_file.to_str().unwrap().to_owned();
    let verify_full = postgres.url(&database_name(), "sslmode=verify-full");
    assert_serves(&verify_full, &[("DATABASE_CA_FILE", &ca_file)]).await;

    assert_refused(&verify_full, &foreign_ca_file, "UnknownIssuer").await;
    // The certificate is issued for 127.0.0.1, not for localhost.
    let by_name = verify_full.replace("127.0.0.1", "localhost");
    assert_refused(&by_name, &ca_file, "not valid for name").await;
    let by_name_ca_only = postgres
        .url(&database_name(), "sslmode=verify-ca")
        .replace("127.0.0.1", "localhost");
    assert_serves(&by_name_ca_only, &[("DATABASE_CA_FILE", &ca_file)]).await;
}
