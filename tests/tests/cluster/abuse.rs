//! Abuse guards key on the real client, through both doors (the API and the web shop): an
//! attacker on one address locks neither a customer nor the admin out, and a session the
//! shopper ended opens nothing, neither in the shop nor against the API.

use std::collections::BTreeMap;
use std::net::IpAddr;

use reqwest::header::{ACCEPT, COOKIE, LOCATION, SET_COOKIE};
use test_infra::webhook_sink::WebhookSink;

use crate::edge::{client_from, login_status};
use crate::harness::{Cluster, https_client_builder};

/// A browser on one address: asks for HTML, keeps its cookies, does not follow redirects,
/// and posts forms with the CSRF token of the page they came from.
struct Browser<'a> {
    cluster: &'a Cluster,
    client: reqwest::Client,
    cookies: BTreeMap<String, String>,
}

/// What a page answered: its status, where it redirects, its body.
struct Page {
    status: u16,
    location: Option<String>,
    body: String,
}

impl<'a> Browser<'a> {
    fn new(cluster: &'a Cluster, source: &str) -> Self {
        let client = https_client_builder(&cluster.tls)
            .local_address(source.parse::<IpAddr>().expect("loopback address"))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Self {
            cluster,
            client,
            cookies: BTreeMap::new(),
        }
    }

    /// Another browser on `source` holding this one's cookies (a copied cookie jar).
    fn with_cookies_of(cluster: &'a Cluster, source: &str, other: &Browser<'_>) -> Self {
        let mut browser = Self::new(cluster, source);
        browser.cookies = other.cookies.clone();
        browser
    }

    fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies.get(name).map(String::as_str)
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
        let mut request = request.header(ACCEPT, "text/html");
        if !self.cookies.is_empty() {
            let jar: Vec<String> = self
                .cookies
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect();
            request = request.header(COOKIE, jar.join("; "));
        }
        let response = request.send().await.expect("the gateway answers");
        for set in response.headers().get_all(SET_COOKIE) {
            let set = set.to_str().expect("a readable Set-Cookie");
            let pair = set.split(';').next().unwrap_or_default();
            let (name, value) = pair.split_once('=').expect("name=value");
            let removed = value.is_empty()
                || set
                    .split(';')
                    .any(|part| part.trim().eq_ignore_ascii_case("max-age=0"));
            if removed {
                self.cookies.remove(name.trim());
            } else {
                self.cookies
                    .insert(name.trim().to_owned(), value.trim().to_owned());
            }
        }
        Page {
            status: response.status().as_u16(),
            location: response
                .headers()
                .get(LOCATION)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned),
            body: response.text().await.unwrap_or_default(),
        }
    }

    async fn get(&mut self, path: &str) -> Page {
        let request = self.client.get(self.cluster.url(path));
        self.send(request).await
    }

    /// The CSRF token in the forms of the page at `path`.
    async fn form_token(&mut self, path: &str) -> String {
        let page = self.get(path).await;
        assert_eq!(page.status, 200, "GET {path}: {}", page.body);
        csrf_token(&page.body).unwrap_or_else(|| panic!("no CSRF field on {path}"))
    }

    async fn post(&mut self, path: &str, token: &str, fields: &[(&str, &str)]) -> Page {
        let mut form: Vec<(&str, &str)> = vec![("csrf", token)];
        form.extend_from_slice(fields);
        let request = self.client.post(self.cluster.url(path)).form(&form);
        self.send(request).await
    }

    /// Logs in through the shop's form; the answer to the post.
    async fn log_in(&mut self, username: &str, password: &str) -> Page {
        let token = self.form_token("/login").await;
        self.post(
            "/login",
            &token,
            &[("username", username), ("password", password)],
        )
        .await
    }
}

fn csrf_token(html: &str) -> Option<String> {
    let pattern = regex::Regex::new(r#"name="csrf" value="([0-9a-f]+)""#).expect("regex");
    Some(pattern.captures(html)?.get(1)?.as_str().to_owned())
}

/// Logs `username` in through the API from `client`; the status.
async fn api_login(
    cluster: &Cluster,
    client: &reqwest::Client,
    username: &str,
    password: &str,
) -> u16 {
    login_status(cluster, client, (username, password), &[]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_attacker_on_one_address_locks_out_neither_a_customer_nor_the_admin() {
    let _serial = crate::harness::SERIAL.lock().await;
    let sink = WebhookSink::start().await;
    let cluster = Cluster::start(&sink.url).await;
    let (customer, _) = cluster.customer().await;
    let (admin, admin_password) = cluster.identity.admin.clone();

    // 50 wrong passwords for each account through the API, and 50 through the shop's form,
    // all from one address.
    let attacker = "127.0.0.21";
    let attacker_api = client_from(&cluster, attacker);
    let mut attacker_shop = Browser::new(&cluster, attacker);
    let token = attacker_shop.form_token("/login").await;
    for target in [customer.as_str(), admin.as_str()] {
        let mut api = Vec::new();
        let mut shop = Vec::new();
        for _ in 0..50 {
            api.push(api_login(&cluster, &attacker_api, target, "wrong-password").await);
            let page = attacker_shop
                .post(
                    "/login",
                    &token,
                    &[("username", target), ("password", "wrong-password")],
                )
                .await;
            shop.push(page.status);
        }
        for (door, statuses) in [("API", &api), ("shop", &shop)] {
            assert!(
                statuses.iter().all(|status| matches!(status, 401 | 429)),
                "{door}: a guess for {target} got {statuses:?}"
            );
            assert_eq!(
                statuses.last(),
                Some(&429),
                "{door}: the attacker was never refused for {target}: {statuses:?}"
            );
        }
    }

    // The owners, each on an address of its own, get in through both doors, on both replicas.
    for (source, username, password) in [
        ("127.0.0.22", customer.as_str(), "customer-password"),
        ("127.0.0.23", admin.as_str(), admin_password.as_str()),
    ] {
        let api = client_from(&cluster, source);
        for attempt in 0..2 {
            assert_eq!(
                api_login(&cluster, &api, username, password).await,
                200,
                "{username} was locked out of the API (attempt {attempt})"
            );
            let mut shop = Browser::new(&cluster, source);
            let page = shop.log_in(username, password).await;
            assert_eq!(
                (page.status, page.location.as_deref()),
                (303, Some("/")),
                "{username} was locked out of the shop (attempt {attempt}): {}",
                page.body
            );
            assert!(
                shop.cookie("sf_session").is_some(),
                "no session was started"
            );
        }
    }
    // The attacker still is.
    assert_eq!(
        api_login(&cluster, &attacker_api, &customer, "customer-password").await,
        429
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_session_ended_by_logout_opens_nothing_on_any_replica_nor_the_api() {
    let _serial = crate::harness::SERIAL.lock().await;
    let sink = WebhookSink::start().await;
    let cluster = Cluster::start(&sink.url).await;
    let (customer, _) = cluster.customer().await;

    let mut shopper = Browser::new(&cluster, "127.0.0.31");
    let page = shopper.log_in(&customer, "customer-password").await;
    assert_eq!(page.status, 303, "logging in: {}", page.body);
    let session = shopper
        .cookie("sf_session")
        .expect("a session cookie")
        .to_owned();
    // The browser holds no API token: its cookie is refused by the API.
    let bearer = |token: &str| {
        let client = cluster.client.clone();
        let url = cluster.url("/orders");
        let token = token.to_owned();
        async move {
            client
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .expect("orders through the gateway")
                .status()
                .as_u16()
        }
    };
    assert_eq!(
        bearer(&session).await,
        401,
        "the session cookie is an API token"
    );
    // The session opens the account's pages on both storefront replicas.
    for attempt in 0..2 {
        let page = shopper.get("/orders").await;
        assert_eq!(
            page.status, 200,
            "my orders (attempt {attempt}): {:?}",
            page.location
        );
    }

    let token = shopper.form_token("/orders").await;
    let page = shopper.post("/logout", &token, &[]).await;
    assert_eq!(page.status, 303, "logging out: {}", page.body);

    // The old cookie, replayed from elsewhere, opens nothing on either replica.
    let mut thief = Browser::with_cookies_of(&cluster, "127.0.0.32", &shopper);
    thief
        .cookies
        .insert("sf_session".to_owned(), session.clone());
    for attempt in 0..2 {
        let page = thief.get("/orders").await;
        assert!(
            page.status == 303 || page.status == 302,
            "the ended session still opened my orders (attempt {attempt}): {}",
            page.status
        );
        assert!(
            page.location
                .as_deref()
                .is_some_and(|to| to.starts_with("/login")),
            "not sent to log in: {:?}",
            page.location
        );
        thief
            .cookies
            .insert("sf_session".to_owned(), session.clone());
    }
    assert_eq!(
        bearer(&session).await,
        401,
        "the API accepted the ended session"
    );
}
