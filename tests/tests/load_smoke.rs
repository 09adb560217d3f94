//! A smoke run of the load generator (`cargo xtask load`, crate `load/`) against the stack this
//! test starts: every journey runs, goose writes its HTML report, a met SLO exits 0 and a
//! missed one exits 3, the generator's own code for it: any other failure (a crash, a bad
//! option, an unreachable service) exits otherwise and fails the test.

use std::path::{Path, PathBuf};
use std::process::Output;

use test_support::{OrderServiceHandle, ProductServiceHandle, UserServiceHandle};

/// The generator's exit code for a run that missed a `--threshold` (`load/src/main.rs`).
const SLO_MISSED: i32 = 3;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is in the workspace")
        .to_path_buf()
}

/// Builds the generator (a workspace of its own, into the shared `target`, as
/// `cargo xtask test` built it already) and runs it with `args`.
async fn shop_load(args: Vec<String>) -> Output {
    let root = root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    tokio::process::Command::new(cargo)
        .args(["run", "--quiet", "--manifest-path"])
        .arg(root.join("load/Cargo.toml"))
        .arg("--target-dir")
        .arg(root.join("target"))
        .arg("--")
        .args(args)
        .kill_on_drop(true)
        .output()
        .await
        .expect("cargo runs")
}

#[tokio::test]
async fn every_journey_runs_reports_and_an_slo_decides_the_exit_code() {
    let users = UserServiceHandle::start().await;
    let products = ProductServiceHandle::start(&users).await;
    let orders = OrderServiceHandle::start(&users, &products).await;
    let (admin_name, admin_token) = users.admin().await;
    for name in ["Desk lamp", "Chair", "Kettle"] {
        products.product_with_stock(&admin_token, name, 500).await;
    }
    let report = std::env::temp_dir().join(format!("shop-load-{}.html", uuid::Uuid::new_v4()));
    let ours = |report: &Path| {
        vec![
            "--user-url".to_owned(),
            users.base_url.clone(),
            "--product-url".into(),
            products.base_url.clone(),
            "--order-url".into(),
            orders.base_url.clone(),
            "--admin".into(),
            format!("{admin_name}:admin-password"),
            // One user of each journey.
            "--weights".into(),
            "1,1,1".into(),
            "--".into(),
            "--users".into(),
            "3".into(),
            "--increase-rate".into(),
            "3".into(),
            // Keep the ramp-up's requests (sign-up, log-in) in the figures.
            "--no-reset-metrics".into(),
            "--run-time".into(),
            "4s".into(),
            "--report-file".into(),
            report.display().to_string(),
        ]
    };

    let mut args = ours(&report);
    args.extend(["--threshold".into(), "error-rate<5%".into()]);
    let met = shop_load(args).await;
    let stdout = String::from_utf8_lossy(&met.stdout);
    let stderr = String::from_utf8_lossy(&met.stderr);
    assert!(met.status.success(), "{stdout}\n{stderr}");
    let html = std::fs::read_to_string(&report).expect("goose wrote the HTML report");
    // Goose names each request by method and name, one of each journey's steps here.
    for request in [
        "/products/{id}",
        "/products?name",
        "/register",
        "/login",
        "/orders (admin)",
    ] {
        assert!(html.contains(request), "the report lists {request}");
    }
    assert!(stdout.contains("POST /orders"), "{stdout}");
    std::fs::remove_file(&report).ok();

    // No request anywhere answers within a microsecond: that SLO is missed.
    let mut args = ours(&report);
    args.extend(["--threshold".into(), "p50<1us".into()]);
    let missed = shop_load(args).await;
    let stderr = String::from_utf8_lossy(&missed.stderr);
    assert_eq!(
        missed.status.code(),
        Some(SLO_MISSED),
        "a missed SLO, and nothing else, fails the run: {}\n{stderr}",
        String::from_utf8_lossy(&missed.stdout)
    );
    assert!(
        stderr.contains("SLO missed") && stderr.contains("p50<1us"),
        "{stderr}"
    );
    std::fs::remove_file(&report).ok();
}
