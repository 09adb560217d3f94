//! Two database roles: the schema owner migrates (`DATABASE_MIGRATION_URL`), the application
//! role (`DATABASE_URL`) only reads and writes rows. The roles and the database are made by
//! `sql/roles.sql` with psql, as an operator would, on the shared server.

use std::process::Command;

use test_infra::startup::run_refusing;
use test_support::{POSTGRES_URL, UserServiceHandle};
use tokio_postgres::error::SqlState;

const ROLES_SQL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../sql/roles.sql");

/// A database and its owner and application roles, all dropped with this value.
struct SplitRoles {
    database: String,
    owner: String,
    app: String,
}

impl SplitRoles {
    fn create() -> Self {
        let id = &uuid::Uuid::new_v4().simple().to_string()[..12];
        let roles = Self {
            database: format!("test_users_roles_{id}"),
            owner: format!("test_owner_{id}"),
            app: format!("test_app_{id}"),
        };
        let variables = [
            format!("database={}", roles.database),
            format!("owner_role={}", roles.owner),
            format!("app_role={}", roles.app),
            format!("owner_password={}", uuid::Uuid::new_v4()),
            format!("app_password={}", uuid::Uuid::new_v4()),
        ];
        let mut psql = Command::new("psql");
        psql.args([
            &format!("{POSTGRES_URL}/postgres"),
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
        ]);
        for variable in &variables {
            psql.args(["-v", variable]);
        }
        let output = psql.args(["-f", ROLES_SQL]).output().expect("psql runs");
        assert!(
            output.status.success(),
            "sql/roles.sql: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        roles
    }

    /// The database as `role` (the shared server trusts loopback: no password needed).
    fn url(&self, role: &str) -> String {
        let server = POSTGRES_URL.replace("postgres@", &format!("{role}@"));
        format!("{server}/{}", self.database)
    }
}

impl Drop for SplitRoles {
    fn drop(&mut self) {
        // Separate commands: DROP DATABASE may not share a transaction with anything.
        let drop_database = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.database);
        let drop_roles = format!("DROP ROLE IF EXISTS \"{}\", \"{}\"", self.owner, self.app);
        let _ = Command::new("psql")
            .args([&format!("{POSTGRES_URL}/postgres"), "-q"])
            .args(["-c", &drop_database, "-c", &drop_roles])
            .output();
    }
}

#[tokio::test]
async fn the_owner_migrates_and_the_app_role_serves_without_ddl_rights() {
    let roles = SplitRoles::create();
    let users = UserServiceHandle::start_with(&[
        ("DATABASE_URL", &roles.url(&roles.app)),
        ("DATABASE_MIGRATION_URL", &roles.url(&roles.owner)),
    ])
    .await;
    users.register("olga", "password-1").await;
    users.login("olga", "password-1").await;

    let (client, connection) =
        tokio_postgres::connect(&roles.url(&roles.app), tokio_postgres::NoTls)
            .await
            .expect("the app role connects");
    tokio::spawn(connection);
    let owner: String = client
        .query_one(
            "SELECT tableowner::text FROM pg_tables WHERE tablename = 'users'",
            &[],
        )
        .await
        .expect("the users table exists")
        .get(0);
    assert_eq!(owner, roles.owner, "the migration role created the table");
    let error = client
        .batch_execute("DROP TABLE users")
        .await
        .expect_err("the app role may not drop a table");
    assert_eq!(
        error.code(),
        Some(&SqlState::INSUFFICIENT_PRIVILEGE),
        "{error}"
    );
}

#[tokio::test]
async fn the_app_role_alone_on_an_empty_database_is_refused_with_a_hint() {
    let roles = SplitRoles::create();
    let (code, stderr) = run_refusing(
        env!("CARGO_BIN_EXE_user-service"),
        &[
            ("APP_PROFILE", "development"),
            ("DATABASE_URL", &roles.url(&roles.app)),
        ],
    )
    .await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("DATABASE_MIGRATION_URL"), "{stderr}");
    assert!(stderr.contains("permission denied"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    // Roles outlive databases on a shared server: the guard must take them away.
    let owner = roles.owner.clone();
    drop(roles);
    let output = Command::new("psql")
        .args([&format!("{POSTGRES_URL}/postgres"), "-Atc"])
        .arg(format!(
            "SELECT count(*) FROM pg_roles WHERE rolname = '{owner}'"
        ))
        .output()
        .expect("psql runs");
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "0");
}
