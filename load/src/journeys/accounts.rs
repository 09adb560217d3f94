//! The journeys of signed-in users: the shopper and the admin.

use std::time::Duration;

use goose::prelude::*;
use serde::de::IgnoredAny;
use shop_contract::order::{CreateOrderRequest, Order, OrderPage, OrderStatus, UpdateOrderRequest};
use shop_contract::product::{CreateProductRequest, Product, UpdateProductRequest, price_text};
use shop_contract::user::{LoginRequest, RegisterRequest, TokenResponse};

use super::{Call, chance, first_page, pick, product_page, session, target};

/// Logs in; the token goes into the session.
async fn log_in(user: &mut GooseUser, username: &str, password: &str) -> TransactionResult {
    let body = LoginRequest {
        username: username.to_owned(),
        password: password.to_owned(),
    };
    let answer = Call::new(GooseMethod::Post, target().user("/login"), "/login")
        .json(&body)
        .send::<TokenResponse>(user)
        .await?;
    if let Some(answer) = answer {
        session(user).token = answer.access_token;
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
        .json(&RegisterRequest {
            username: username.clone(),
            password: password.to_owned(),
        })
        .ok(&[201])
        .send::<IgnoredAny>(user)
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
    let body = CreateOrderRequest {
        product_id: product,
        quantity: 1,
    };
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
            .json(&body)
            .idempotency_key(&key)
            .ok(&[200, 201, 409, 422])
            .send::<Order>(user)
            .await?;
        if attempt == 0
            && let Some(order) = answer
        {
            super::session(user).owned.push(order.id);
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
    .send::<OrderPage>(user)
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
    .json(&UpdateOrderRequest {
        status: OrderStatus::Cancelled,
    })
    .ok(&[200, 409])
    .send::<Order>(user)
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
    let body = CreateProductRequest {
        name: format!(
            "Load lamp {}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        ),
        description: "made by the load generator".to_owned(),
        price: price_text("19.99"),
        quantity: 1000,
    };
    let created = Call::new(
        GooseMethod::Post,
        target().product("/products"),
        "/products",
    )
    .token(&token)
    .json(&body)
    .ok(&[201])
    .send::<Product>(user)
    .await?;
    if let Some(product) = created {
        session(user).owned.push(product.id);
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
        .json(&UpdateProductRequest {
            quantity: Some(1000),
            ..UpdateProductRequest::default()
        })
        .send::<Product>(user)
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
    .send::<OrderPage>(user)
    .await?;
    let pending: Vec<i64> = page
        .map(|page| page.items)
        .unwrap_or_default()
        .iter()
        .filter(|order| order.status == OrderStatus::Pending)
        .map(|order| order.id)
        .take(3)
        .collect();
    for id in pending {
        for status in [
            OrderStatus::Confirmed,
            OrderStatus::Shipped,
            OrderStatus::Completed,
        ] {
            // 409: the shopper cancelled it in between.
            let moved = Call::new(
                GooseMethod::Put,
                target().order(&format!("/orders/{id}")),
                "/orders/{id} (admin)",
            )
            .token(&token)
            .json(&UpdateOrderRequest { status })
            .ok(&[200, 409])
            .send::<Order>(user)
            .await?;
            if moved.is_none_or(|order| order.status != status) {
                break;
            }
        }
    }
    Ok(())
}
