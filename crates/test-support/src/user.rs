//! The User Service started in-process for tests, against a fresh database, with helpers to
//! create customers and admins and get their tokens.

use std::sync::Arc;

use serde_json::{Value, json};
use shop_config::ServiceConfig as _;
use shop_config::Settings;
use user_service::config::UserServiceConfig;
use user_service::domain::Role;
use user_service::state::AppState;

use crate::{REDIS_URL, TEST_JWT_SECRET, TestDatabase, TestService, init};

/// What a running User Service adds to its handle.
#[derive(Debug)]
pub struct Users {
    pub state: Arc<AppState>,
    pub database: TestDatabase,
}

/// The User Service running in this process.
pub type UserServiceHandle = TestService<Users>;

/// The Redis key prefix of the login and registration counts of the User Service on `database`.
pub fn throttle_key_prefix(database: &TestDatabase) -> String {
    format!("test:{}:", database.id)
}

/// Settings for a User Service under test; `extra` overrides or adds keys.
pub fn user_service_settings(database: &TestDatabase, extra: &[(&'static str, &str)]) -> Settings {
    crate::service_settings(
        vec![
            ("DATABASE_URL", database.url.clone()),
            ("JWT_SECRET", TEST_JWT_SECRET.clone()),
            // The minimum cost keeps tests fast; the timing tests compare paths at equal cost.
            ("BCRYPT_COST", "4".into()),
            // Attempts are counted in the shared Redis (production requires it to be named):
            // each test's service (and its replicas, which share the database) counts under its
            // own keys.
            ("REDIS_URL", REDIS_URL.into()),
            ("THROTTLE_KEY_PREFIX", throttle_key_prefix(database)),
        ],
        extra,
    )
}

/// The status of `POST login_url` as `username` with `password`, sent from `client` with extra
/// `headers`: for throttling tests, whose clients connect from chosen addresses, go through a
/// gateway or forge forwarding headers.
pub async fn login_status(
    client: &reqwest::Client,
    login_url: &str,
    (username, password): (&str, &str),
    headers: &[(&str, &str)],
) -> u16 {
    let mut request = client
        .post(login_url)
        .json(&json!({"username": username, "password": password}));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request
        .send()
        .await
        .unwrap_or_else(|error| panic!("POST {login_url}: {error}"))
        .status()
        .as_u16()
}

impl UserServiceHandle {
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    pub async fn start_with(extra: &[(&'static str, &str)]) -> Self {
        init();
        let database = TestDatabase::borrow().await;
        let config = UserServiceConfig::from_settings(user_service_settings(&database, extra))
            .expect("test configuration is valid");
        let app = user_service::build(config)
            .await
            .expect("user service starts");
        let state = app.exposed().clone();
        Self::spawn(app, Users { state, database })
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request reaches the user service")
    }

    /// `POST /register` of `username` with `password`, whatever the answer.
    pub async fn post_register(&self, username: &str, password: &str) -> reqwest::Response {
        self.post_json(
            "/register",
            &json!({"username": username, "password": password}),
        )
        .await
    }

    /// `POST /login` as `username` with `password`, whatever the answer.
    pub async fn post_login(&self, username: &str, password: &str) -> reqwest::Response {
        self.post_json(
            "/login",
            &json!({"username": username, "password": password}),
        )
        .await
    }

    /// Registers `username` with `password`; panics unless the service answers 201.
    pub async fn register(&self, username: &str, password: &str) -> Value {
        let response = self.post_register(username, password).await;
        assert_eq!(response.status(), 201, "registering {username}");
        response.json().await.expect("user JSON")
    }

    /// Logs in and returns the access token; panics unless the service answers 200.
    pub async fn login(&self, username: &str, password: &str) -> String {
        let response = self.post_login(username, password).await;
        assert_eq!(response.status(), 200, "logging in {username}");
        let body: Value = response.json().await.expect("token JSON");
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    /// A token for `user` (as [`Self::register`] returned it) in `role`, issued at `issued_at`
    /// (Unix seconds) instead of now: one that has expired, or is about to.
    pub fn token_issued_at(&self, user: &Value, role: Role, issued_at: i64) -> String {
        let id = user["id"].as_i64().expect("a user with an id");
        let username = user["username"].as_str().expect("a user with a username");
        self.state
            .tokens
            .issue_at(id, username, role, issued_at)
            .expect("a token")
    }

    /// A new customer with a unique name; returns (username, token).
    pub async fn customer(&self) -> (String, String) {
        let username = format!(
            "customer-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        self.register(&username, "customer-password").await;
        let token = self.login(&username, "customer-password").await;
        (username, token)
    }

    /// A new admin with a unique name; returns (username, token).
    pub async fn admin(&self) -> (String, String) {
        let username = format!("admin-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        self.register(&username, "admin-password").await;
        assert!(
            self.state
                .users
                .promote_to_admin(&username)
                .await
                .expect("promote")
        );
        let token = self.login(&username, "admin-password").await;
        (username, token)
    }
}
