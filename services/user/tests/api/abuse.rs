//! Login and registration abuse: attempts counted before bcrypt and shared by replicas, the
//! fallback while Redis is down, the per-client registration limit, the bounded hashing queue,
//! usernames that are never used as keys or logged when they cannot be usernames, a lockout
//! keyed on username and address that cannot lock the owner out, and the shopper a service
//! names in `X-Client-IP`.

use std::net::IpAddr;
use std::time::Duration;

use futures_util::future::join_all;
use serde_json::json;
use shop_config::ServiceConfig as _;
use shop_http::client_addr::CLIENT_IP_HEADER;
use shop_http::service_auth::SERVICE_TOKEN_HEADER;
use test_infra::redis_server::PrivateRedis;
use test_support::logs::capture_json_logs;
use test_support::{TEST_SERVICE_TOKEN, UserServiceHandle, user_service_settings, wait_until};
use user_service::config::UserServiceConfig;

use crate::{assert_problem, assert_problem_type};

async fn login_status(users: &UserServiceHandle, base_url: &str, password: &str) -> u16 {
    let login_url = format!("{base_url}/login");
    test_support::login_status(&users.client, &login_url, ("victim", password), &[]).await
}

#[tokio::test]
async fn concurrent_guesses_cannot_pass_the_lockout() {
    let users = UserServiceHandle::start_with(&[("LOGIN_MAX_FAILURES", "5")]).await;
    users.register("victim", "the-real-password").await;
    let guesses = (0..20).map(|guess| {
        let users = &users;
        async move { login_status(users, &users.base_url, &format!("guess-{guess:04}")).await }
    });
    let statuses = join_all(guesses).await;
    let checked = statuses.iter().filter(|status| **status == 401).count();
    let refused = statuses.iter().filter(|status| **status == 429).count();
    assert_eq!(
        (checked, refused),
        (5, 15),
        "passwords checked / refused: {statuses:?}"
    );
}

#[tokio::test]
async fn failures_spread_over_two_replicas_lock_the_account_at_the_limit() {
    let first = UserServiceHandle::start_with(&[("LOGIN_MAX_FAILURES", "3")]).await;
    first.register("victim", "the-real-password").await;
    // A second replica: same database, same Redis, same settings.
    let settings = user_service_settings(&first.database, &[("LOGIN_MAX_FAILURES", "3")]);
    let second = user_service::build(UserServiceConfig::from_settings(settings).unwrap())
        .await
        .unwrap();
    let second = test_support::TestService::spawn(second, ());
    let second_url = second.base_url.clone();

    for (round, base_url) in [&first.base_url, &second_url, &first.base_url]
        .into_iter()
        .enumerate()
    {
        let status = login_status(&first, base_url, &format!("wrong-{round}")).await;
        assert_eq!(status, 401, "attempt {round}");
    }
    assert_eq!(login_status(&first, &second_url, "wrong-3").await, 429);
    assert_eq!(
        login_status(&first, &second_url, "the-real-password").await,
        429,
        "the lock holds even for the right password"
    );
    second.stop().await;
}

/// A User Service on a Redis of the test's own (to kill), three failures allowed, and the
/// account "victim".
async fn victim_on_private_redis() -> (PrivateRedis, UserServiceHandle) {
    let redis = PrivateRedis::start().await;
    let users = UserServiceHandle::start_with(&[
        ("REDIS_URL", &redis.url()),
        ("LOGIN_MAX_FAILURES", "3"),
        ("REDIS_TIMEOUT_MS", "100"),
    ])
    .await;
    users.register("victim", "the-real-password").await;
    (redis, users)
}

/// Redis failing after it has counted a guesser's attempts (a timeout under load, a breaker
/// opening) must not hand the guesser a fresh allowance in the replica's own window.
#[tokio::test]
async fn attempts_redis_allowed_still_count_when_it_fails_mid_burst() {
    let (mut redis, users) = victim_on_private_redis().await;
    for round in 0..3 {
        let status = login_status(&users, &users.base_url, &format!("wrong-{round}")).await;
        assert_eq!(status, 401, "attempt {round}, counted in Redis");
    }
    redis.kill().await;
    assert_eq!(
        login_status(&users, &users.base_url, "wrong-3").await,
        429,
        "the fallback knows the three attempts Redis allowed"
    );
}

#[tokio::test]
async fn with_redis_down_logins_work_and_each_replica_still_limits_attempts() {
    let (mut redis, users) = victim_on_private_redis().await;
    let url = redis.url();
    redis.kill().await;

    // Not timed: each Redis call gives up at its connect timeout (250 ms) until the breaker
    // skips Redis altogether, and a login stuck on Redis would trip the test client's 30 s
    // timeout rather than pass slowly.
    assert_eq!(
        login_status(&users, &users.base_url, "the-real-password").await,
        200
    );
    for round in 0..3 {
        let status = login_status(&users, &users.base_url, &format!("wrong-{round}")).await;
        assert_eq!(status, 401, "attempt {round}");
    }
    assert_eq!(
        login_status(&users, &users.base_url, "wrong-3").await,
        429,
        "the replica's own window holds while Redis is down"
    );

    // Redis back: attempts are shared again (a new name, so the local lock plays no part).
    redis.restart().await;
    // Multiplexed connections are cheap handles: each poll clones one.
    let connection = redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let key = format!(
        "{}login:user:someone-else:127.0.0.1",
        test_support::throttle_key_prefix(&users.database)
    );
    wait_until(
        "attempts counted in Redis again",
        Duration::from_secs(10),
        || {
            let (users, key, mut connection) = (&users, &key, connection.clone());
            async move {
                users.post_login("someone-else", "wrong-pass").await;
                let exists: bool = redis::cmd("EXISTS")
                    .arg(key)
                    .query_async(&mut connection)
                    .await
                    .ok()?;
                exists.then_some(())
            }
        },
    )
    .await;
}

#[tokio::test]
async fn registrations_are_limited_per_client() {
    let users = UserServiceHandle::start_with(&[("REGISTER_MAX_PER_CLIENT", "3")]).await;
    for index in 0..3 {
        users
            .register(&format!("member-{index}"), "member-password")
            .await;
    }
    let response = users.post_register("member-3", "member-password").await;
    assert!(response.headers().contains_key("retry-after"));
    assert_problem_type(response, 429, "urn:problem:too-many-registrations").await;
}

#[tokio::test]
async fn a_full_hashing_queue_answers_503_with_retry_after() {
    // One hashing thread, one waiting job, slow hashes: a burst overflows at once.
    let users = UserServiceHandle::start_with(&[
        ("BCRYPT_COST", "10"),
        ("BCRYPT_MAX_CONCURRENCY", "1"),
        ("BCRYPT_QUEUE_CAPACITY", "1"),
        ("REGISTER_MAX_PER_CLIENT", "100"),
    ])
    .await;
    let burst = (0..8).map(|index| {
        let body = json!({"username": format!("burst-{index}"), "password": "burst-password"});
        let users = &users;
        async move { users.post_json("/register", &body).await }
    });
    let mut busy = 0;
    for response in join_all(burst).await {
        match response.status().as_u16() {
            201 => {}
            503 => {
                assert!(response.headers().contains_key("retry-after"));
                assert_problem(response, 503).await;
                busy += 1;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(busy > 0, "a burst of 8 over a queue of 1 was never refused");
}

#[tokio::test]
async fn a_username_that_cannot_exist_is_refused_and_no_typed_name_is_logged() {
    let (logs, _guard) = capture_json_logs("user-service");
    let users = UserServiceHandle::start().await;
    let response = users.post_login("my secret pass 42!", "whatever-1").await;
    let problem = assert_problem(response, 422).await;
    assert_eq!(problem["errors"][0]["field"], "username");
    // A plausible name that is somebody's password typed in the wrong field.
    let response = users.post_login("Hunter2Hunter2", "whatever-1").await;
    assert_problem(response, 401).await;
    let logged = serde_json::to_string(&logs.lines()).unwrap();
    assert!(logged.contains("login failed"), "the failure is logged");
    for typed in ["Hunter2Hunter2", "my secret pass"] {
        assert!(!logged.contains(typed), "{typed} reached the logs");
    }
}

/// A client whose connections come from `address` (any of 127.0.0.0/8 on Linux), so that one
/// test can play several clients.
fn client_from(address: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .local_address(address.parse::<IpAddr>().expect("test address"))
        .build()
        .expect("test HTTP client")
}

async fn login_as(
    client: &reqwest::Client,
    users: &UserServiceHandle,
    username: &str,
    password: &str,
    headers: &[(&str, &str)],
) -> u16 {
    let login_url = users.url("/login");
    test_support::login_status(client, &login_url, (username, password), headers).await
}

#[tokio::test]
async fn failures_from_one_address_never_lock_the_owner_out_from_another() {
    // The production defaults: 5 per username and address, 100 per address.
    let users = UserServiceHandle::start().await;
    users.register("owner", "the-real-password").await;
    let attacker = client_from("127.0.0.2");
    let mut statuses = Vec::new();
    for guess in 0..50 {
        let password = format!("guess-{guess:04}");
        statuses.push(login_as(&attacker, &users, "owner", &password, &[]).await);
    }
    assert_eq!(&statuses[..5], [401; 5], "{statuses:?}");
    assert!(
        statuses[5..].iter().all(|status| *status == 429),
        "{statuses:?}"
    );
    let from_attacker = login_as(&attacker, &users, "owner", "the-real-password", &[]).await;
    assert_eq!(from_attacker, 429, "the guessing address stays locked");
    let owner = client_from("127.0.0.3");
    let from_owner = login_as(&owner, &users, "owner", "the-real-password", &[]).await;
    assert_eq!(
        from_owner, 200,
        "the owner was locked out by someone else's failures"
    );
}

#[tokio::test]
async fn the_per_address_limit_is_separate_from_the_per_username_one() {
    let users = UserServiceHandle::start_with(&[
        ("LOGIN_MAX_FAILURES", "5"),
        ("LOGIN_MAX_FAILURES_PER_CLIENT", "8"),
    ])
    .await;
    let nat = client_from("127.0.0.4");
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(login_as(&nat, &users, "target", "wrong-pass", &[]).await);
    }
    assert_eq!(
        statuses,
        [401, 401, 401, 401, 401, 429],
        "one name, one address"
    );
    // Other names from the same address: three more fit under the address's 8, not under 5.
    let mut statuses = Vec::new();
    for index in 0..4 {
        let username = format!("other-{index}");
        statuses.push(login_as(&nat, &users, &username, "wrong-pass", &[]).await);
    }
    assert_eq!(statuses, [401, 401, 401, 429], "many names, one address");
    let elsewhere = client_from("127.0.0.5");
    let status = login_as(&elsewhere, &users, "other-9", "wrong-pass", &[]).await;
    assert_eq!(status, 401, "another address has its own count");
}

#[tokio::test]
async fn x_client_ip_is_believed_only_beside_a_valid_service_token() {
    let users = UserServiceHandle::start_with(&[
        ("LOGIN_MAX_FAILURES", "2"),
        ("SERVICE_TOKEN", TEST_SERVICE_TOKEN.as_str()),
    ])
    .await;
    let shopper = [
        (CLIENT_IP_HEADER, "203.0.113.7"),
        (SERVICE_TOKEN_HEADER, TEST_SERVICE_TOKEN.as_str()),
    ];
    let storefront = client_from("127.0.0.6");
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(login_as(&storefront, &users, "victim", "wrong-pass", &shopper).await);
    }
    assert_eq!(statuses, [401, 401, 429], "the named shopper is locked");
    let own = login_as(&storefront, &users, "victim", "wrong-pass", &[]).await;
    assert_eq!(
        own, 401,
        "the shopper's failures were charged to the storefront"
    );

    // Anyone else naming that shopper is not believed: it is charged itself, and not locked.
    let forged = [(CLIENT_IP_HEADER, "203.0.113.7")];
    let untrusted = client_from("127.0.0.7");
    let status = login_as(&untrusted, &users, "victim", "wrong-pass", &forged).await;
    assert_eq!(status, 401, "X-Client-IP without a token was believed");
    let wrong_token = [
        (CLIENT_IP_HEADER, "203.0.113.7"),
        (SERVICE_TOKEN_HEADER, "not-the-service-token"),
    ];
    let guesser = client_from("127.0.0.8");
    let status = login_as(&guesser, &users, "victim", "wrong-pass", &wrong_token).await;
    assert_eq!(status, 401, "X-Client-IP with a wrong token was believed");

    // A service's garbled header: counted against the service, never a 5xx.
    let garbled = [
        (CLIENT_IP_HEADER, "not-an-address"),
        (SERVICE_TOKEN_HEADER, TEST_SERVICE_TOKEN.as_str()),
    ];
    let careless = client_from("127.0.0.9");
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(login_as(&careless, &users, "victim", "wrong-pass", &garbled).await);
    }
    assert_eq!(statuses, [401, 401, 429], "charged to the sender");
}

#[tokio::test]
async fn registrations_count_against_the_shopper_a_service_names() {
    let users = UserServiceHandle::start_with(&[
        ("REGISTER_MAX_PER_CLIENT", "1"),
        ("SERVICE_TOKEN", TEST_SERVICE_TOKEN.as_str()),
    ])
    .await;
    let storefront = client_from("127.0.0.10");
    let register = |username: &'static str, shopper: &'static str| {
        storefront
            .post(users.url("/register"))
            .header(CLIENT_IP_HEADER, shopper)
            .header(SERVICE_TOKEN_HEADER, TEST_SERVICE_TOKEN.as_str())
            .json(&json!({"username": username, "password": "member-password"}))
            .send()
    };
    let first = register("member-a", "2001:db8:1:2::1").await.unwrap();
    assert_eq!(first.status(), 201);
    let second = register("member-b", "2001:db8:1:3::1").await.unwrap();
    assert_eq!(
        second.status(),
        201,
        "another shopper was charged the first one's"
    );
    // The same /64: the same client.
    let third = register("member-c", "2001:db8:1:2::99").await.unwrap();
    assert_eq!(third.status(), 429);
}

/// What `cargo xtask up` runs: the development profile with no limit set. A test or contract
/// run from one machine registers hundreds of accounts and fails hundreds of logins, far past
/// every production limit (10 registrations an hour per address, 5 failures per account and
/// address, 100 per address), and must never be throttled.
#[tokio::test]
async fn the_development_profile_never_throttles_a_run_from_one_machine() {
    let users = UserServiceHandle::start_with(&[("APP_PROFILE", "development")]).await;
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    let mut count = |status: u16| *statuses.entry(status).or_default() += 1;
    for n in 0..150 {
        let username = format!("dev-run-{n:03}");
        let credentials = json!({"username": username, "password": "member-password"});
        count(
            users
                .post_json("/register", &credentials)
                .await
                .status()
                .as_u16(),
        );
        count(
            users
                .post_json("/login", &credentials)
                .await
                .status()
                .as_u16(),
        );
        let wrong = json!({"username": username, "password": "wrong-password"});
        count(users.post_json("/login", &wrong).await.status().as_u16());
    }
    // One account guessed at well past the per-account limit.
    for _ in 0..20 {
        let wrong = json!({"username": "dev-run-000", "password": "wrong-password"});
        count(users.post_json("/login", &wrong).await.status().as_u16());
    }
    let expected = std::collections::BTreeMap::from([(200, 150), (201, 150), (401, 170)]);
    assert_eq!(statuses, expected, "statuses of one machine's run");
}
