//! The journeys of signed-in users: the shopper and the admin.

use std::time::Duration;

use goose::prelude::*;
use serde_json::json;

use super::{Call, chance, first_page, pick, product_page, session, target};

/// Logs in; the token goes into the session.
async fn log_in(user: &mut GooseUser, username: &str, password: &str) -> TransactionResult {
    let body = json!({"username": username, "password": password});
    let answer = Call::new(GooseMethod::Post, target().user("/login"), "/login")
        .json(body)
        .send(user)
        .await?;
    if let Some(token) = answer
        .as_ref()
        .and_then(|answer| answer["access_token"].as_str())
    {
        session(user).token = token.to_owned();
    }
    Ok(())
}

// ---- shopper ----------------------------------------------------------------------------

pub fn shopper() -> Scenario {
    let weighted = |transaction: Transaction, weight| {
        transaction.set_weight(weight).expect("a positive weight")
    };
    scenario!("shopper")
        .set_wait_time(Duration::from_millis(50), Duration::from_millis(400))
        .expect("a valid wait")
        .register_transaction(transaction!(sign_up).set_name("sign up").set_on_start())
        .register_transaction(weighted(transaction!(first_page).set_name("browse"), 2))
        .register_transaction(weighted(
            transaction!(product_page).set_name("product page"),
            3,
        ))
        .register_transaction(weighted(transaction!(place_order).set_name("order"), 2))
        .register_transaction(transaction!(own_orders).set_name("own orders"))
        .register_transaction(transaction!(cancel_one).set_name("cancel"))
}

/// Registers a new account and logs in with it, then looks at the first page.
async fn sign_up(user: &mut GooseUser) -> TransactionResult {
    let username = format!("load-{}", &uuid::Uuid::new_v4().simple().to_string()[..16]);
    let password = "load-test-password";
    Call::new(GooseMethod::Post, target().user("/register"), "/register")
        .json(json!({"username": username, "password": password}))
        .ok(&[201])
        .send(user)
        .await?;
    log_in(user, &username, password).await?;
    first_page(user).await
}

async fn place_order(user: &mut GooseUser) -> TransactionResult {
    let session = session(user);
    let (Some(product), token) = (pick(&session.ids), session.token.clone()) else {
        return first_page(user).await;
    };
    let key = uuid::Uuid::new_v4().to_string();
    let body = json!({"product_id": product, "quantity": 1});
    // A retry after a lost answer, with the same key, now and then: the original order back.
    let tries = if chance(10) { 2 } else { 1 };
    for attempt in 0..tries {
        let name = if attempt == 0 {
            "/orders"
        } else {
            "/orders (retry)"
        };
        // 409: out of stock; 422: the product was deleted meanwhile. Both fair answers.
        let answer = Call::new(GooseMethod::Post, target().order("/orders"), name)
            .token(&token)
            .json(body.clone())
            .idempotency_key(&key)
            .ok(&[200, 201, 409, 422])
            .send(user)
            .await?;
        if attempt == 0
            && let Some(id) = answer.as_ref().and_then(|order| order["id"].as_i64())
        {
            super::session(user).owned.push(id);
        }
    }
    Ok(())
}

async fn own_orders(user: &mut GooseUser) -> TransactionResult {
    let token = session(user).token.clone();
    Call::new(
        GooseMethod::Get,
        target().order("/orders?limit=20"),
        "/orders",
    )
    .token(&token)
    .send(user)
    .await?;
    Ok(())
}

/// Cancels one of the user's orders, about one in three.
async fn cancel_one(user: &mut GooseUser) -> TransactionResult {
    if !chance(33) {
        return Ok(());
    }
    let session = session(user);
    let (Some(id), token) = (session.owned.pop(), session.token.clone()) else {
        return Ok(());
    };
    // 409: the admin confirmed it first, which a customer may no longer cancel.
    Call::new(
        GooseMethod::Put,
        target().order(&format!("/orders/{id}")),
        "/orders/{id}",
    )
    .token(&token)
    .json(json!({"status": "cancelled"}))
    .ok(&[200, 409])
    .send(user)
    .await?;
    Ok(())
}

// ---- admin ------------------------------------------------------------------------------

pub fn admin() -> Scenario {
    scenario!("admin")
        .set_wait_time(Duration::from_millis(200), Duration::from_millis(1000))
        .expect("a valid wait")
        .register_transaction(
            transaction!(admin_log_in)
                .set_name("admin log in")
                .set_on_start(),
        )
        .register_transaction(transaction!(create_product).set_name("create product"))
        .register_transaction(transaction!(restock).set_name("restock"))
        .register_transaction(
            transaction!(fulfil)
                .set_name("fulfil")
                .set_weight(2)
                .expect("a positive weight"),
        )
}

async fn admin_log_in(user: &mut GooseUser) -> TransactionResult {
    let (name, password) = target().admin.clone();
    log_in(user, &name, &password).await
}

async fn create_product(user: &mut GooseUser) -> TransactionResult {
    let token = session(user).token.clone();
    let body = json!({
        "name": format!("Load lamp {}", &uuid::Uuid::new_v4().simple().to_string()[..8]),
        "description": "made by the load generator",
        "price": "19.99",
        "quantity": 1000,
    });
    let created = Call::new(
        GooseMethod::Post,
        target().product("/products"),
        "/products",
    )
    .token(&token)
    .json(body)
    .ok(&[201])
    .send(user)
    .await?;
    if let Some(id) = created.as_ref().and_then(|product| product["id"].as_i64()) {
        session(user).owned.push(id);
    }
    Ok(())
}

async fn restock(user: &mut GooseUser) -> TransactionResult {
    let session = session(user);
    let token = session.token.clone();
    let Some(id) = pick(&session.owned) else {
        return create_product(user).await;
    };
    let url = target().product(&format!("/products/{id}"));
    Call::new(GooseMethod::Put, url, "/products/{id}")
        .token(&token)
        .json(json!({"quantity": 1000}))
        .send(user)
        .await?;
    Ok(())
}

/// Moves a few pending orders along: confirmed, shipped, completed.
async fn fulfil(user: &mut GooseUser) -> TransactionResult {
    let token = session(user).token.clone();
    let page = Call::new(
        GooseMethod::Get,
        target().order("/orders?limit=20"),
        "/orders (admin)",
    )
    .token(&token)
    .send(user)
    .await?;
    let pending: Vec<i64> = page
        .as_ref()
        .and_then(|page| page["items"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter(|order| order["status"] == "pending")
        .filter_map(|order| order["id"].as_i64())
        .take(3)
        .collect();
    for id in pending {
        for status in ["confirmed", "shipped", "completed"] {
            // 409: the shopper cancelled it in between.
            let moved = Call::new(
                GooseMethod::Put,
                target().order(&format!("/orders/{id}")),
                "/orders/{id} (admin)",
            )
            .token(&token)
            .json(json!({"status": status}))
            .ok(&[200, 409])
            .send(user)
            .await?;
            if moved.is_none_or(|order| order["status"] != status) {
                break;
            }
        }
    }
    Ok(())
}
