//! Server-side sessions: the browser holds an opaque id, the token stays in Redis, a logout
//! ends the session on every replica at once (pages and open live streams), and the shopper's
//! address reaches the User Service with the service credential vouching for it.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::AsyncCommands as _;
use serde_json::{Value, json};
use support::sse::EventReader;
use support::{
    StorefrontHandle, System, form_token, no_redirect_client, set_cookie, start_storefront,
    storefront_session, wait_live,
};
use test_support::wait_until;

/// Generous: only a hang takes this long.
const GUARD: Duration = Duration::from_secs(30);

async fn get(storefront: &StorefrontHandle, path: &str, session: &str) -> reqwest::Response {
    no_redirect_client()
        .get(storefront.url(path))
        .header("cookie", format!("sf_session={session}"))
        .send()
        .await
        .unwrap()
}

/// A logged-out (or never logged-in) visitor: sent to log in, told the session expired, and no
/// live stream.
async fn assert_refused(storefront: &StorefrontHandle, session: &str) {
    let response = get(storefront, "/orders", session).await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        response.headers()["location"],
        "/login?expired=1&next=/orders"
    );
    let response = get(storefront, "/", session).await;
    let cookies: Vec<&str> = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|value| value.to_str().unwrap())
        .collect();
    assert!(
        cookies.iter().any(|line| line.starts_with("sf_session=;")),
        "the session cookie is removed: {cookies:?}"
    );
    let page = response.text().await.unwrap();
    assert!(page.contains("Your session has expired"), "{page}");
    assert_eq!(get(storefront, "/live/orders", session).await.status(), 204);
}

async fn log_out(storefront: &StorefrontHandle, session: &str) {
    let (csrf_cookie, token) = form_token(storefront, "/", Some(session)).await;
    let response = no_redirect_client()
        .post(storefront.url("/logout"))
        .header(
            "cookie",
            format!("sf_session={session}; sf_csrf={csrf_cookie}"),
        )
        .form(&[("csrf", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
}

async fn subscribers(channel: &str) -> i64 {
    let (_, count): (String, i64) = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(channel)
        .query_async(&mut support::redis().await)
        .await
        .unwrap();
    count
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_session_is_an_opaque_id_that_logout_ends_on_every_replica() {
    // Streams re-check their session far too rarely to matter here: only the announcement of
    // the logout can close them within the test.
    let rarely = ("STOREFRONT_LIVE_RECHECK_MS", "3600000".to_owned());
    let system = System::start_with(std::slice::from_ref(&rarely)).await;
    let mut settings = system.storefront_settings();
    settings.retain(|(key, _)| *key != "STOREFRONT_CONSUMER");
    settings.push(("STOREFRONT_CONSUMER", "storefront-sessions-second".into()));
    settings.push(rarely);
    let second = start_storefront(&settings).await;
    wait_live(&second).await;
    let (_, admin) = system.users.admin().await;
    let (name, token) = system.users.customer().await;
    let product = system.products.product_with_stock(&admin, "Lamp", 5).await;

    let session = storefront_session(&system.storefront, &name, "customer-password").await;
    let other = storefront_session(&second, &name, "customer-password").await;
    assert_ne!(session, other, "every login starts a session of its own");
    assert!(
        session.len() == 64 && session.bytes().all(|b| b.is_ascii_hexdigit()),
        "a random id, not a JWT: {session}"
    );
    let response = system.orders.get_as(&session, "/orders").await;
    assert_eq!(response.status(), 401, "the id is no bearer token");
    let key = format!("{}session:{session}", system.session_prefix);
    let mut redis = support::redis().await;
    let stored: String = redis.get(&key).await.unwrap();
    let stored: Value = serde_json::from_str(&stored).unwrap();
    let kept_token = stored["token"].as_str().unwrap();
    assert_eq!(
        system.orders.get_as(kept_token, "/orders").await.status(),
        200,
        "the API token stays server-side, under the session's key"
    );
    let ttl: i64 = redis.pttl(&key).await.unwrap();
    assert!(
        ttl > 0 && ttl <= 3_600_000,
        "no longer than the token: {ttl} ms"
    );
    for replica in [&system.storefront, &second] {
        assert_eq!(get(replica, "/orders", &session).await.status(), 200);
    }

    let channel = format!("{}session-ended", system.session_prefix);
    wait_until("both replicas follow ended sessions", GUARD, || async {
        (subscribers(&channel).await == 2).then_some(())
    })
    .await;
    let mut here = EventReader::open(&system.storefront, &session, None).await;
    let mut there = EventReader::open(&second, &session, None).await;
    let mut kept = EventReader::open(&second, &other, None).await;
    log_out(&system.storefront, &session).await;
    here.ended(GUARD).await;
    there.ended(GUARD).await;
    for replica in [&system.storefront, &second] {
        assert_refused(replica, &session).await;
    }
    assert!(!redis.exists::<_, bool>(&key).await.unwrap());

    // The same user's other session lives on, stream and all.
    let response = system
        .orders
        .place(&token, &json!({"product_id": product, "quantity": 1}), None)
        .await;
    let order = response.json::<Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap();
    kept.expect(order, "pending").await;
    assert_eq!(get(&second, "/orders", &other).await.status(), 200);
    second.stop().await;
}

#[tokio::test]
async fn a_session_id_never_issued_opens_nothing() {
    let storefront = start_storefront(&[(
        "USER_SERVICE_URL",
        format!("http://127.0.0.1:{}", test_support::free_port()),
    )])
    .await;
    let forged = format!("{:064x}", rand::random::<u128>());
    assert_refused(&storefront, &forged).await;
    storefront.stop().await;
}

#[tokio::test]
async fn a_login_never_keeps_the_session_id_it_came_with() {
    let users = test_support::UserServiceHandle::start().await;
    let storefront = start_storefront(&[("USER_SERVICE_URL", users.base_url.clone())]).await;
    let (attacker, _) = users.customer().await;
    let (victim, _) = users.customer().await;
    // An attacker's own session, planted in the victim's browser.
    let planted = storefront_session(&storefront, &attacker, "customer-password").await;
    let (csrf_cookie, token) = form_token(&storefront, "/login", Some(&planted)).await;
    let response = no_redirect_client()
        .post(storefront.url("/login"))
        .header(
            "cookie",
            format!("sf_session={planted}; sf_csrf={csrf_cookie}"),
        )
        .form(&[
            ("username", victim.as_str()),
            ("password", "customer-password"),
            ("csrf", &token),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let issued = set_cookie(&response, "sf_session").expect("a new session cookie");
    assert_ne!(issued, planted);
    assert_refused(&storefront, &planted).await;
    let page = get(&storefront, "/", &issued).await.text().await.unwrap();
    assert!(page.contains(&format!("Log out {victim}")), "{page}");
    storefront.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stream_whose_session_vanished_unannounced_ends_at_its_recheck() {
    let users = test_support::UserServiceHandle::start().await;
    let prefix = support::session_prefix();
    let storefront = start_storefront(&[
        ("USER_SERVICE_URL", users.base_url.clone()),
        ("STOREFRONT_SESSION_KEY_PREFIX", prefix.clone()),
        ("STOREFRONT_LIVE_RECHECK_MS", "200".into()),
    ])
    .await;
    let (name, _) = users.customer().await;
    let session = storefront_session(&storefront, &name, "customer-password").await;
    let mut stream = EventReader::open(&storefront, &session, None).await;
    // Deleted behind the storefront's back, as if the announcement had been missed.
    let _: i64 = support::redis()
        .await
        .del(format!("{prefix}session:{session}"))
        .await
        .unwrap();
    stream.ended(GUARD).await;
    storefront.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn live_streams_are_capped_per_user_and_per_replica() {
    let users = test_support::UserServiceHandle::start().await;
    let storefront = start_storefront(&[
        ("USER_SERVICE_URL", users.base_url.clone()),
        ("STOREFRONT_LIVE_MAX_PER_USER", "1".into()),
        ("STOREFRONT_LIVE_MAX_CONNECTIONS", "2".into()),
    ])
    .await;
    let mut sessions = Vec::new();
    for _ in 0..3 {
        let (name, _) = users.customer().await;
        sessions.push(storefront_session(&storefront, &name, "customer-password").await);
    }
    let _first = EventReader::open(&storefront, &sessions[0], None).await;
    let refused = get(&storefront, "/live/orders", &sessions[0]).await;
    assert_eq!(refused.status(), 429, "one stream per user");
    assert_eq!(refused.headers()["retry-after"], "30");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["type"], "urn:problem:too-many-live-streams", "{body}");
    let _second = EventReader::open(&storefront, &sessions[1], None).await;
    let refused = get(&storefront, "/live/orders", &sessions[2]).await;
    assert_eq!(refused.status(), 503, "two streams per replica");
    assert_eq!(refused.headers()["retry-after"], "30");
    storefront.stop().await;
}

/// What the stand-in User Service saw of each login and registration.
type Seen = Arc<Mutex<Vec<(String, Option<String>, Option<String>)>>>;

#[salvo::handler]
async fn user_service_stand_in(
    req: &mut salvo::Request,
    depot: &mut salvo::Depot,
    res: &mut salvo::Response,
) {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let seen = depot.get_typed::<Seen>().unwrap().clone();
    seen.lock().unwrap().push((
        req.uri().path().to_owned(),
        header("x-client-ip"),
        header("x-service-token"),
    ));
    if req.uri().path() == "/register" {
        res.status_code(salvo::http::StatusCode::CREATED);
        res.render(salvo::writing::Json(json!({"id": 1, "username": "dora"})));
    } else {
        res.render(salvo::writing::Json(
            json!({"access_token": "stand-in-token", "token_type": "bearer", "expires_in": 60}),
        ));
    }
}

#[tokio::test]
async fn login_and_register_tell_the_user_service_whose_request_it_is() {
    let seen: Seen = Arc::default();
    let acceptor = shop_http::server::bind("127.0.0.1".parse().unwrap(), 0)
        .await
        .unwrap();
    let address = shop_http::server::local_addr(&acceptor);
    let stand_in = tokio::spawn(
        salvo::Server::new(acceptor).serve(
            salvo::Router::new()
                .hoop(salvo::affix_state::inject(seen.clone()))
                .push(salvo::Router::with_path("{**rest}").post(user_service_stand_in)),
        ),
    );
    let service_token = format!("test-service-token-{}", uuid::Uuid::new_v4().simple());
    let storefront = start_storefront(&[
        ("USER_SERVICE_URL", format!("http://{address}")),
        ("SERVICE_TOKEN", service_token.clone()),
        // The test client stands in for the gateway.
        ("TRUSTED_PROXIES", "127.0.0.1".into()),
    ])
    .await;
    for (page, fields) in [
        (
            "/login",
            vec![("username", "dora"), ("password", "dora-password")],
        ),
        (
            "/register",
            vec![("username", "dora"), ("password", "dora-password")],
        ),
    ] {
        let (csrf_cookie, token) = form_token(&storefront, page, None).await;
        let mut fields = fields;
        fields.push(("csrf", &token));
        let response = no_redirect_client()
            .post(storefront.url(page))
            .header("cookie", format!("sf_csrf={csrf_cookie}"))
            .header("x-forwarded-for", "198.51.100.1, 203.0.113.7")
            .form(&fields)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 303, "{page}");
    }
    let seen = seen.lock().unwrap().clone();
    let paths: Vec<&str> = seen.iter().map(|(path, _, _)| path.as_str()).collect();
    assert_eq!(paths, ["/login", "/register", "/login"]);
    for (path, client, token) in &seen {
        assert_eq!(client.as_deref(), Some("203.0.113.7"), "{path}");
        assert_eq!(token.as_deref(), Some(service_token.as_str()), "{path}");
    }
    storefront.stop().await;
    stand_in.abort();
}

#[tokio::test]
async fn without_redis_the_catalogue_works_and_account_pages_say_so() {
    let users = test_support::UserServiceHandle::start().await;
    let products = test_support::ProductServiceHandle::start(&users).await;
    let mut redis = test_infra::redis_server::PrivateRedis::start().await;
    let storefront = start_storefront(&[
        ("USER_SERVICE_URL", users.base_url.clone()),
        ("PRODUCT_SERVICE_URL", products.base_url.clone()),
        ("REDIS_URL", redis.url()),
    ])
    .await;
    let (name, _) = users.customer().await;
    let session = storefront_session(&storefront, &name, "customer-password").await;
    let (csrf_cookie, token) = form_token(&storefront, "/login", None).await;
    redis.kill().await;

    assert_eq!(get(&storefront, "/", &session).await.status(), 200);
    for path in ["/orders", "/live/orders"] {
        let response = get(&storefront, path, &session).await;
        assert_eq!(response.status(), 503, "{path}");
    }
    let page = get(&storefront, "/orders", &session)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("the account service is not answering"),
        "{page}"
    );
    let response = no_redirect_client()
        .post(storefront.url("/login"))
        .header("cookie", format!("sf_csrf={csrf_cookie}"))
        .form(&[
            ("username", name.as_str()),
            ("password", "customer-password"),
            ("csrf", &token),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503, "no session without the store");
    assert!(response.headers().get("set-cookie").is_none());
    storefront.stop().await;
}
