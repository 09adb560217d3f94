//! The three journeys and the one request helper they share.

use std::sync::OnceLock;
use std::time::Duration;

use goose::prelude::*;
use rand::Rng;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use shop_contract::product::ProductPage;

use crate::target::Target;

mod accounts;
pub use accounts::{admin, shopper};

/// Where requests go; set once before the attack starts.
pub static TARGET: OnceLock<Target> = OnceLock::new();

pub fn target() -> &'static Target {
    TARGET.get().expect("the target is set before the attack")
}

/// What one simulated user carries between requests (goose keeps one value per user).
#[derive(Debug, Clone, Default)]
pub struct Session {
    /// Product ids seen while browsing, to visit and to order.
    pub ids: Vec<i64>,
    pub next_cursor: Option<String>,
    /// A signed-in user's token.
    pub token: String,
    /// Orders a shopper placed, or products an admin created.
    pub owned: Vec<i64>,
}

/// The user's session, made empty on first use.
pub fn session(user: &mut GooseUser) -> &mut Session {
    if user.get_session_data::<Session>().is_none() {
        user.set_session_data(Session::default());
    }
    user.get_session_data_mut::<Session>()
        .expect("the session was just set")
}

/// One request: the statuses in `ok` count as successes (a 409 for stock that ran out is an
/// answer the shop is right to give, not an error of the system under load).
pub struct Call<'a> {
    method: GooseMethod,
    url: String,
    name: &'a str,
    token: Option<&'a str>,
    body: Option<Value>,
    idempotency_key: Option<&'a str>,
    ok: &'a [u16],
}

impl<'a> Call<'a> {
    pub fn new(method: GooseMethod, url: String, name: &'a str) -> Self {
        Self {
            method,
            url,
            name,
            token: None,
            body: None,
            idempotency_key: None,
            ok: &[200],
        }
    }

    pub fn token(mut self, token: &'a str) -> Self {
        self.token = Some(token);
        self
    }

    /// A body of the services' contract, so a renamed field fails the build, not the run.
    pub fn json(mut self, body: &impl Serialize) -> Self {
        self.body = Some(serde_json::to_value(body).expect("a contract body is JSON"));
        self
    }

    pub fn idempotency_key(mut self, key: &'a str) -> Self {
        self.idempotency_key = Some(key);
        self
    }

    pub fn ok(mut self, ok: &'a [u16]) -> Self {
        self.ok = ok;
        self
    }

    /// Sends it; the body of an accepted answer as `T`, `None` for an unexpected status. A
    /// successful answer that is not a `T` is a failure: the service broke its contract.
    pub async fn send<T: DeserializeOwned>(
        self,
        user: &mut GooseUser,
    ) -> Result<Option<T>, Box<TransactionError>> {
        let mut builder = user.get_request_builder(&self.method, &self.url)?;
        if let Some(token) = self.token {
            builder = builder.bearer_auth(token);
        }
        if let Some(body) = &self.body {
            builder = builder.json(body);
        }
        if let Some(key) = self.idempotency_key {
            builder = builder.header("Idempotency-Key", key);
        }
        let request = GooseRequest::builder()
            .method(self.method)
            .path(self.url.as_str())
            .name(self.name)
            .set_request_builder(builder)
            .build();
        let mut goose = user.request(request).await?;
        let Ok(response) = goose.response else {
            return Ok(None);
        };
        let status = response.status().as_u16();
        if !self.ok.contains(&status) {
            if response.status().is_success() {
                user.set_failure("unexpected status", &mut goose.request, None, None)?;
            }
            return Ok(None);
        }
        let success = response.status().is_success();
        let answer = response.json::<T>().await.ok();
        if !success {
            user.set_success(&mut goose.request)?;
        } else if answer.is_none() {
            user.set_failure(
                "answer outside the contract",
                &mut goose.request,
                None,
                None,
            )?;
        }
        Ok(answer)
    }
}

pub fn pick(ids: &[i64]) -> Option<i64> {
    (!ids.is_empty()).then(|| ids[rand::rng().random_range(0..ids.len())])
}

pub fn chance(percent: u32) -> bool {
    rand::rng().random_range(0..100) < percent
}

fn ids_of(page: &ProductPage) -> Vec<i64> {
    page.items.iter().map(|product| product.id).collect()
}

// ---- visitor ----------------------------------------------------------------------------

pub fn visitor() -> Scenario {
    scenario!("visitor")
        .set_wait_time(Duration::from_millis(20), Duration::from_millis(200))
        .expect("a valid wait")
        .register_transaction(
            transaction!(first_page)
                .set_name("first page")
                .set_on_start(),
        )
        .register_transaction(transaction!(first_page).set_name("first page"))
        .register_transaction(transaction!(next_page).set_name("next page"))
        .register_transaction(transaction!(search).set_name("search"))
        .register_transaction(
            transaction!(product_page)
                .set_name("product page")
                .set_weight(4)
                .expect("a weight"),
        )
}

pub async fn first_page(user: &mut GooseUser) -> TransactionResult {
    let page = Call::new(
        GooseMethod::Get,
        target().product("/products?limit=20"),
        "/products",
    )
    .send::<ProductPage>(user)
    .await?;
    if let Some(page) = page {
        let session = session(user);
        session.ids = ids_of(&page);
        session.next_cursor = page.next_cursor;
    }
    Ok(())
}

async fn next_page(user: &mut GooseUser) -> TransactionResult {
    let Some(cursor) = session(user).next_cursor.clone() else {
        return first_page(user).await;
    };
    let url = target().product(&format!("/products?limit=20&cursor={cursor}"));
    if let Some(page) = Call::new(GooseMethod::Get, url, "/products?cursor")
        .send::<ProductPage>(user)
        .await?
    {
        let session = session(user);
        session.ids.extend(ids_of(&page));
        session.next_cursor = page.next_cursor;
    }
    Ok(())
}

async fn search(user: &mut GooseUser) -> TransactionResult {
    let word = ["lamp", "chair", "kettle", "desk", "load"][rand::rng().random_range(0..5)];
    let url = target().product(&format!("/products?name={word}&limit=10"));
    Call::new(GooseMethod::Get, url, "/products?name")
        .send::<ProductPage>(user)
        .await?;
    Ok(())
}

pub async fn product_page(user: &mut GooseUser) -> TransactionResult {
    let Some(id) = pick(&session(user).ids) else {
        return first_page(user).await;
    };
    let url = target().product(&format!("/products/{id}"));
    // A product deleted meanwhile is a fair 404.
    Call::new(GooseMethod::Get, url, "/products/{id}")
        .ok(&[200, 404])
        .send::<shop_contract::product::Product>(user)
        .await?;
    Ok(())
}
