//! `POST /orders` end to end beside the pgbench floor of the very statements one order costs
//! (`docs/bench/order-floor.sql`): the User and Order Services start beside the Product Service
//! already running, customers register and log in, and wrk places orders with an
//! Idempotency-Key on one hot product, then spread over the catalogue.

use std::path::Path;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

use super::load_tools::{Load, Protocol, in_turns};
use super::{Line, POSTGRES, ROWS, ROWS_TEXT, SPREADS, free_port, line, psql_in, wait_for};

pub(super) const USERS: &str = "bench_users";
pub(super) const ORDERS: &str = "bench_orders";
/// Both services' schemas in one database, for pgbench.
pub(super) const FLOOR: &str = "bench_order_floor";
/// Customers the orders are spread over: each customer's orders queue on one advisory lock
/// (the pending-order cap), so one customer would measure that lock, not the system.
const CUSTOMERS: usize = 32;
const CUSTOMERS_TEXT: &str = "32";

pub(super) async fn measure(
    root: &Path,
    binaries: &Path,
    product_service: &str,
    seconds: u32,
    lines: &mut Vec<Line>,
    children: &mut Vec<Child>,
) -> anyhow::Result<()> {
    prepare_floor(root).await?;
    let (users, orders) = start_services(binaries, product_service, children).await?;
    let tokens = customers(&users).await?.join(",");
    let floor_script = root.join("docs/bench/order-floor.sql");
    let order_script = root.join("docs/bench/order.lua");
    for (hot, name) in SPREADS {
        let hot = if hot { "1" } else { "0" };
        let loads = [
            Load::Pgbench {
                script: &floor_script,
                database: FLOOR,
                variables: vec![
                    ("hot", hot),
                    ("rows", ROWS_TEXT),
                    ("customers", CUSTOMERS_TEXT),
                ],
                // The script's ids stand inside quoted literals, which prepared mode cannot
                // bind.
                protocol: Protocol::Simple,
            },
            Load::Wrk {
                script: &order_script,
                url: orders.clone(),
                env: vec![
                    ("HOT", hot.to_owned()),
                    ("ROWS", ROWS_TEXT.to_owned()),
                    ("TOKENS", tokens.clone()),
                ],
            },
        ];
        let figures = in_turns(&loads, seconds).await?;
        let (floor, placed) = (figures[0], figures[1]);
        let label = format!("pgbench: every statement of one order, {name} (floor)");
        lines.push(line(&label, floor, None));
        let label = format!("POST /orders, {CUSTOMERS} customers, {name}");
        lines.push(line(&label, placed, Some(("pgbench", floor))));
    }
    Ok(())
}

/// The floor database: the Product and Order migrations, each in a schema of its own, and the
/// same catalogue the Product Service holds.
async fn prepare_floor(root: &Path) -> anyhow::Result<()> {
    psql_in("postgres", &format!("CREATE DATABASE {FLOOR}"), &[]).await?;
    for (directory, schema) in [("product", "product"), ("order", "orders")] {
        psql_in(FLOOR, &format!("CREATE SCHEMA {schema}"), &[]).await?;
        let mut migrations: Vec<_> = std::fs::read_dir(root.join("sql").join(directory))?
            .map(|entry| entry.map(|entry| entry.path()))
            .collect::<Result<_, _>>()?;
        // V1__, V2__, …: fewer than ten per service, so the names sort in version order.
        migrations.sort();
        let options = format!("-c search_path={schema}");
        for migration in migrations {
            let path = migration.to_str().context("a migration path is UTF-8")?;
            psql_in(FLOOR, path, &[("PGOPTIONS", options.as_str())]).await?;
        }
    }
    psql_in(
        FLOOR,
        &format!(
            "INSERT INTO product.products (name, description, price, quantity) \
             SELECT 'item ' || g, 'benchmark product ' || g, (g % 1000) + 0.99, 100000000 \
             FROM generate_series(1, {ROWS}) g; ANALYZE;"
        ),
        &[],
    )
    .await
}

/// Starts the User and Order Services (development profile, default log level as deployed);
/// returns their base URLs.
async fn start_services(
    binaries: &Path,
    product_service: &str,
    children: &mut Vec<Child>,
) -> anyhow::Result<(String, String)> {
    let users = format!("http://127.0.0.1:{}", free_port()?);
    let orders = format!("http://127.0.0.1:{}", free_port()?);
    let port = |url: &str| url.rsplit(':').next().unwrap_or_default().to_owned();
    let common = [("APP_PROFILE", "development"), ("HOST", "127.0.0.1")];
    let user_settings = [
        ("PORT", port(&users)),
        ("DATABASE_URL", format!("{POSTGRES}/{USERS}")),
        // The lowest cost bcrypt accepts: logging in is not what this measures.
        ("BCRYPT_COST", "4".to_owned()),
        ("REGISTER_MAX_PER_CLIENT", "1000".to_owned()),
        ("THROTTLE_KEY_PREFIX", "bench:user-throttle:".to_owned()),
    ];
    let order_settings = [
        ("PORT", port(&orders)),
        ("DATABASE_URL", format!("{POSTGRES}/{ORDERS}")),
        ("USER_SERVICE_URL", users.clone()),
        ("PRODUCT_SERVICE_URL", product_service.to_owned()),
        ("ORDER_EVENTS_EXCHANGE", "bench.order_events".to_owned()),
        // The cap would stop the benchmark's customers long before the run ends.
        ("MAX_PENDING_ORDERS_PER_CUSTOMER", "100000000".to_owned()),
    ];
    for (binary, settings) in [
        ("user-service", &user_settings[..]),
        ("order-service", &order_settings[..]),
    ] {
        children.push(
            Command::new(binaries.join(binary))
                .envs(common)
                .envs(settings.iter().map(|(name, value)| (*name, value.as_str())))
                .stdout(std::process::Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .with_context(|| format!("starting the {binary}"))?,
        );
    }
    wait_for(&format!("{users}/health/ready")).await?;
    wait_for(&format!("{orders}/health/ready")).await?;
    Ok((users, orders))
}

/// Registers the benchmark's customers and logs each in; their access tokens.
async fn customers(users: &str) -> anyhow::Result<Vec<String>> {
    let client = reqwest::Client::new();
    let mut tokens = Vec::with_capacity(CUSTOMERS);
    for number in 1..=CUSTOMERS {
        let credentials = json!({
            "username": format!("bench-shopper-{number}"),
            "password": format!("bench-password-{number}"),
        });
        let registered = client
            .post(format!("{users}/register"))
            .json(&credentials)
            .send()
            .await?;
        if !registered.status().is_success() {
            bail!("registering a customer: {}", registered.text().await?);
        }
        let login: Value = client
            .post(format!("{users}/login"))
            .json(&credentials)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let token = login["access_token"]
            .as_str()
            .context("the login answer has an access_token")?;
        tokens.push(token.to_owned());
    }
    Ok(tokens)
}
