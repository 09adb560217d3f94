//! The OpenAPI documents state what the services enforce: schemathesis (installed by
//! `cargo xtask test` under `gateway::python_tools_dir()`) generates requests from each document, valid
//! and invalid ones, runs its stateful phase over the links it infers, and applies every check
//! it has (`--checks all`): no 5xx, every status and body documented, schema-valid requests
//! accepted and schema-invalid ones refused.
//!
//! The budget is small by default so CI stays quick; `CONTRACT_MAX_EXAMPLES` raises it (see
//! docs/testing.md for a long manual run).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use test_support::{
    OrderServiceHandle, ProductServiceHandle, TEST_SERVICE_TOKEN, UserServiceHandle,
};
use tokio::process::Command;

/// Test cases per operation and phase when `CONTRACT_MAX_EXAMPLES` is not set.
const CI_MAX_EXAMPLES: &str = "10";
/// A run that takes longer than this is stuck, not slow.
const RUN_LIMIT: Duration = Duration::from_secs(600);

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn schemathesis() -> PathBuf {
    if let Some(path) = std::env::var_os("SCHEMATHESIS") {
        return PathBuf::from(path);
    }
    let path = gateway::python_tools_dir().join("bin/schemathesis");
    assert!(
        path.exists(),
        "{} is missing: `cargo xtask test` installs it (or set SCHEMATHESIS)",
        path.display()
    );
    path
}

/// Runs schemathesis against `base_url` with `headers`; panics with its report on a failure.
async fn check_contract(base_url: &str, headers: &[String], product_ids: &[i64]) {
    let max_examples =
        std::env::var("CONTRACT_MAX_EXAMPLES").unwrap_or_else(|_| CI_MAX_EXAMPLES.into());
    let report = tempdir();
    let ids: Vec<String> = product_ids.iter().map(i64::to_string).collect();
    let mut command = Command::new(schemathesis());
    command
        .arg("run")
        .arg(format!("{base_url}/openapi.json"))
        .args(["--url", base_url])
        .args(["--checks", "all"])
        .args(["--max-examples", &max_examples])
        .args(["--phases", "examples,coverage,fuzzing,stateful"])
        // One worker: hypothesis parses lambdas' sources with `ast`, which CPython 3.11 does
        // not do safely from two threads at once ("AST constructor recursion depth mismatch").
        .args(["--workers", "1"])
        .args(["--request-timeout", "30"])
        // Only the generator's own health checks: slow generation on a loaded 2-core machine is
        // not a contract failure.
        .args(["--suppress-health-check", "too_slow,filter_too_much"])
        .arg("--no-color")
        .arg("--report-dir")
        .arg(&report)
        .env("PYTHONPATH", root().join("tests/contracts"))
        .env("SCHEMATHESIS_HOOKS", "shop_hooks")
        .env("SHOP_PRODUCT_IDS", ids.join(","))
        // Its cache of failures goes with the report, not into the source tree.
        .current_dir(&report)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for header in headers {
        command.args(["--header", header]);
    }
    let output = tokio::time::timeout(RUN_LIMIT, command.output())
        .await
        .expect("schemathesis finishes within its limit")
        .expect("schemathesis runs");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if std::env::var_os("TEST_LOG").is_some() {
        println!("{text}");
    }
    assert!(
        output.status.success(),
        "schemathesis found failures:\n{text}"
    );
    let _ = std::fs::remove_dir_all(report);
}

fn tempdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("schemathesis-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("report directory");
    dir
}

/// The User Service, with limits high enough that generated bad logins and registrations, all
/// from one address, never meet them (the limits are tested in the service's own tests).
async fn users() -> UserServiceHandle {
    UserServiceHandle::start_with(&[
        ("LOGIN_MAX_FAILURES", "1000000"),
        ("LOGIN_MAX_FAILURES_PER_CLIENT", "1000000"),
        ("REGISTER_MAX_PER_CLIENT", "1000000"),
    ])
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_user_service_does_what_its_document_says() {
    let users = users().await;
    check_contract(&users.base_url, &[], &[]).await;
    users.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_product_service_does_what_its_document_says() {
    let users = users().await;
    let products = ProductServiceHandle::start(&users).await;
    let (_, admin) = users.admin().await;
    check_contract(
        &products.base_url,
        &[
            format!("Authorization: Bearer {admin}"),
            format!("X-Service-Token: {}", *TEST_SERVICE_TOKEN),
        ],
        &[],
    )
    .await;
    products.stop().await;
    users.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_order_service_does_what_its_document_says() {
    let users = users().await;
    let products = ProductServiceHandle::start(&users).await;
    let orders = OrderServiceHandle::start(&users, &products).await;
    let (_, admin) = users.admin().await;
    // Stock to order, so generated orders can succeed as well as fail.
    let mut ids = Vec::new();
    for n in 1..=3 {
        let name = format!("contract product {n}");
        ids.push(products.product_with_stock(&admin, &name, 1_000_000).await);
    }
    let headers = [format!("Authorization: Bearer {admin}")];
    check_contract(&orders.base_url, &headers, &ids).await;
    orders.stop().await;
    products.stop().await;
    users.stop().await;
}
