//! What the public routes promise, played through the real HAProxy with `gateway/haproxy/routes.cfg`
//! as written, in front of four stub backends that answer with their name and the headers they
//! were given (the cluster tests do the same in front of the real services):
//!
//! - API clients reach the service of the path; browsers asking for HTML reach the shop,
//!   whatever the path; what the API does not have goes to the shop.
//! - The operational paths (`/internal`, `/metrics`, `/health`, `/docs`, `/openapi.json`) and
//!   `/validate-token` are answered by the gateway itself: 404, problem+json.
//! - A client's X-Service-Token and X-Client-IP never reach a service; X-Forwarded-For ends
//!   with the client's real address.
//! - Every HTTPS answer, the gateway's own included, carries HSTS and nosniff.
//! - Plain HTTP is only ever redirected to HTTPS, at the port GATEWAY_HTTPS_PORT names.
//! - The 31st credential post within a minute from one address is refused (429, Retry-After),
//!   while another address still gets through.
//! - A request a replica took and never answered is sent again only when that is safe: reads,
//!   and order placements carrying an Idempotency-Key.
//!
//! Each platform's backends file (compose's, the Nomad template rendered) loads with the routes.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::haproxy::{
    COMPOSE_BACKENDS, PUBLIC_BACKENDS, ROUTES, Scratch, check, nomad_backends_template,
    render_nomad_template,
};

/// What browsers send as Accept; API clients send JSON, anything, or nothing.
const BROWSER: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
const API_ACCEPTS: [Option<&str>; 3] = [Some("application/json"), Some("*/*"), None];

/// A request carrying this header with a value not seen before gets no answer: the backend
/// reads it and closes the connection, as a replica dying with the request in hand would.
const FAIL_ONCE: &str = "x-test-fail-once";

/// The FAIL_ONCE values already failed, in this test process.
static FAILED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// A backend that answers every request (its health checks too) with its name, the request
/// line and the headers it got, then closes the connection.
async fn stub_backend(name: &'static str) -> SocketAddr {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("a stub backend's port");
    let address = listener.local_addr().expect("its address");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(answer(stream, name));
        }
    });
    address
}

async fn answer(mut stream: TcpStream, name: &'static str) {
    let mut received = Vec::new();
    let mut chunk = [0_u8; 8192];
    let head_end = loop {
        if let Some(at) = received.windows(4).position(|window| window == b"\r\n\r\n") {
            break at;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(read) => received.extend_from_slice(&chunk[..read]),
        }
    };
    let head = String::from_utf8_lossy(&received[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split_whitespace();
    let method = request_line.next().unwrap_or_default().to_owned();
    let path = request_line.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(key, value)| (key.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(key, _)| key == "content-length")
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(0);
    while received.len() < head_end + 4 + length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(read) => received.extend_from_slice(&chunk[..read]),
        }
    }
    if let Some((_, id)) = headers.iter().find(|(key, _)| key == FAIL_ONCE) {
        let mut failed = FAILED.lock().expect("the failed requests");
        if !failed.contains(id) {
            failed.push(id.clone());
            return;
        }
    }
    let body =
        json!({"backend": name, "method": method, "path": path, "headers": headers}).to_string();
    let response = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// The real HAProxy with routes.cfg, started as local runs and the cluster start it
/// (`gateway::Gateway`), with the four stubs as the only replicas.
struct Gateway {
    inner: ::gateway::Gateway,
    /// The public HTTPS port; the redirect must name it (GATEWAY_HTTPS_PORT).
    web: u16,
    ca_pem: String,
    scratch: Scratch,
}

impl Gateway {
    async fn start() -> Self {
        test_support::init();
        let scratch = Scratch::new("routes");
        let mut backends = Vec::new();
        for name in PUBLIC_BACKENDS {
            let address = stub_backend(name).await;
            backends.push(::gateway::Backend {
                name,
                urls: vec![format!("http://{address}")],
            });
        }
        let tls = ::gateway::LocalTls::load_or_create(&scratch.0.join("tls"))
            .expect("the local certificate");
        let inner = ::gateway::Gateway::start(
            &scratch.0,
            0,
            &backends,
            Duration::from_secs(1),
            &tls,
            // The tests' shared allocator: a port no other test process draws meanwhile.
            || Ok(test_support::free_port()),
        )
        .await
        .unwrap_or_else(|error| panic!("the gateway starts: {error:#}"));
        Self {
            web: inner.address.port(),
            inner,
            ca_pem: tls.ca_pem,
            scratch,
        }
    }

    /// A client of the HTTPS entry point trusting the local CA, its connections leaving from
    /// `source` (any 127/8 address is the loopback).
    fn client_from(&self, source: Ipv4Addr) -> reqwest::Client {
        let ca = reqwest::Certificate::from_pem(self.ca_pem.as_bytes()).expect("the CA is PEM");
        reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .tls_certs_only([ca])
            .resolve(
                "localhost",
                SocketAddr::from((Ipv4Addr::LOCALHOST, self.web)),
            )
            .local_address(IpAddr::V4(source))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
    }

    fn client(&self) -> reqwest::Client {
        self.client_from(Ipv4Addr::LOCALHOST)
    }

    /// A client speaking HTTP/1.1 on a new connection for every request: there, whether a
    /// request is sent again is HAProxy's decision alone. When the server closed without a
    /// word, HAProxy 2.6 answers an HTTP/2 client with REFUSED_STREAM ("never processed"), and
    /// closes a reused HTTP/1.1 client connection without an answer: either way the client
    /// may send the request again itself, and curl and reqwest do over HTTP/2, whatever the
    /// method.
    fn http1_client(&self) -> reqwest::Client {
        let ca = reqwest::Certificate::from_pem(self.ca_pem.as_bytes()).expect("the CA is PEM");
        reqwest::Client::builder()
            .no_proxy()
            .http1_only()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(10))
            .tls_certs_only([ca])
            .resolve(
                "localhost",
                SocketAddr::from((Ipv4Addr::LOCALHOST, self.web)),
            )
            .build()
            .expect("client")
    }

    fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.web)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "haproxy's log:\n{}",
                ::gateway::log_tail(&self.scratch.0.join("haproxy.log"), 40)
            );
        }
    }
}

/// An answer: status, headers, and the body as JSON (Null when it is not).
struct Answer {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Answer {
    /// The stub backend that answered, if one did.
    fn backend(&self) -> Option<&str> {
        self.body["backend"].as_str()
    }

    /// The values of a header the backend was given, in order.
    fn forwarded(&self, header: &str) -> Vec<&str> {
        self.body["headers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|pair| pair[0] == header)
            .filter_map(|pair| pair[1].as_str())
            .collect()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }
}

async fn send(
    client: &reqwest::Client,
    method: Method,
    url: &str,
    accept: Option<&str>,
    headers: &[(&str, &str)],
) -> Answer {
    let mut request = client.request(method.clone(), url);
    if let Some(accept) = accept {
        request = request.header("Accept", accept);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if method == Method::POST {
        request = request.json(&json!({"username": "someone", "password": "secret"}));
    }
    let response = request
        .send()
        .await
        .unwrap_or_else(|error| panic!("{method} {url}: {error}"));
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap_or_default();
    Answer {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
    }
}

/// Browsers keep to HTTPS and never guess a content type: on every answer.
fn assert_security_headers(answer: &Answer, what: &str) {
    assert_eq!(
        answer.header("strict-transport-security"),
        Some("max-age=31536000; includeSubDomains"),
        "{what}: HSTS"
    );
    assert_eq!(
        answer.header("x-content-type-options"),
        Some("nosniff"),
        "{what}"
    );
}

#[tokio::test]
async fn requests_reach_the_service_their_route_names() {
    let gateway = Gateway::start().await;
    let client = gateway.client();
    let api = [
        (Method::GET, "/products", "product"),
        (Method::GET, "/products/7", "product"),
        (Method::POST, "/products", "product"),
        (Method::GET, "/orders", "order"),
        (Method::POST, "/orders", "order"),
        (Method::PUT, "/orders/7", "order"),
        (Method::POST, "/login", "user"),
        (Method::POST, "/register", "user"),
        // What the API does not have is the shop's: its pages, its assets, look-alike paths.
        (Method::GET, "/", "storefront"),
        (Method::GET, "/checkout", "storefront"),
        (Method::GET, "/static/shop.css", "storefront"),
        (Method::GET, "/productsearch", "storefront"),
    ];
    for (method, path, expected) in api {
        for accept in API_ACCEPTS {
            let answer = send(&client, method.clone(), &gateway.url(path), accept, &[]).await;
            assert_eq!(answer.status, 200, "{method} {path} ({accept:?})");
            assert_eq!(
                answer.backend(),
                Some(expected),
                "{method} {path} with Accept {accept:?}"
            );
            assert_eq!(
                answer.body["path"], path,
                "the path reaches the service unchanged"
            );
            assert_security_headers(&answer, path);
        }
    }
    // A browser gets the shop, whose pages share the API's paths.
    let browser = [
        (Method::GET, "/products/7"),
        (Method::GET, "/orders"),
        (Method::GET, "/login"),
        (Method::POST, "/login"),
        (Method::POST, "/register"),
        (Method::GET, "/checkout"),
        (Method::POST, "/checkout"),
    ];
    for (method, path) in browser {
        let answer = send(
            &client,
            method.clone(),
            &gateway.url(path),
            Some(BROWSER),
            &[],
        )
        .await;
        assert_eq!(
            answer.backend(),
            Some("storefront"),
            "a browser's {method} {path}"
        );
        assert_security_headers(&answer, path);
    }
}

#[tokio::test]
async fn operational_paths_are_answered_by_the_gateway_itself() {
    let gateway = Gateway::start().await;
    let client = gateway.client();
    let hidden = [
        "/internal",
        "/internal/orders/7",
        "/metrics",
        "/health",
        "/health/ready",
        "/health/live",
        "/docs",
        "/docs/",
        "/openapi.json",
        "/validate-token",
    ];
    for path in hidden {
        for method in [Method::GET, Method::POST] {
            for accept in [Some(BROWSER), Some("application/json"), None] {
                // Claiming to be a service changes nothing.
                let answer = send(
                    &client,
                    method.clone(),
                    &gateway.url(path),
                    accept,
                    &[("X-Service-Token", "forged")],
                )
                .await;
                assert_eq!(
                    answer.backend(),
                    None,
                    "{method} {path} ({accept:?}) reached a service"
                );
                assert_eq!(answer.status, 404, "{method} {path} ({accept:?})");
                assert_eq!(
                    answer.header("content-type"),
                    Some("application/problem+json"),
                    "{path}"
                );
                assert_eq!(answer.body["status"], 404, "{path}: {}", answer.body);
                assert_security_headers(&answer, path);
            }
        }
    }
}

#[tokio::test]
async fn internal_headers_from_a_client_never_reach_a_service() {
    let gateway = Gateway::start().await;
    let client = gateway.client();
    let forged = [
        ("X-Service-Token", "forged"),
        ("X-Client-IP", "203.0.113.9"),
        ("X-Forwarded-For", "203.0.113.9"),
        ("X-Forwarded-Proto", "http"),
    ];
    let routes = [
        (Method::POST, "/login", None),
        (Method::GET, "/products", None),
        (Method::POST, "/orders", Some("application/json")),
        (Method::POST, "/login", Some(BROWSER)),
        (Method::GET, "/", Some(BROWSER)),
    ];
    for (method, path, accept) in routes {
        let answer = send(&client, method.clone(), &gateway.url(path), accept, &forged).await;
        let backend = answer
            .backend()
            .unwrap_or_else(|| panic!("{method} {path} is routed"));
        for header in ["x-service-token", "x-client-ip"] {
            assert_eq!(
                answer.forwarded(header),
                Vec::<&str>::new(),
                "{method} {path}: {backend} got the client's {header}"
            );
        }
        // The services take the last X-Forwarded-For entry, which the gateway appends.
        let forwarded_for = answer.forwarded("x-forwarded-for").join(",");
        assert_eq!(
            forwarded_for.rsplit(',').next().map(str::trim),
            Some("127.0.0.1"),
            "{method} {path}: the client's address is the last entry: {forwarded_for}"
        );
        assert_eq!(
            answer.forwarded("x-forwarded-proto"),
            ["https"],
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn plain_http_only_redirects_to_https() {
    let gateway = Gateway::start().await;
    let client = gateway.client();
    for (method, path) in [
        (Method::GET, "/products?page=2"),
        (Method::POST, "/login"),
        (Method::GET, "/internal/orders"),
    ] {
        let url = format!("{}{path}", gateway.inner.redirect_url);
        let answer = send(&client, method.clone(), &url, None, &[]).await;
        assert_eq!(
            answer.backend(),
            None,
            "{method} {path} over plain HTTP reached a service"
        );
        assert_eq!(answer.status, 301, "{method} {path}");
        assert_eq!(
            answer.header("location"),
            Some(format!("https://127.0.0.1:{}{path}", gateway.web).as_str()),
            "the same path on HTTPS, at the port GATEWAY_HTTPS_PORT names"
        );
    }
}

#[tokio::test]
async fn credential_posts_are_rate_limited_per_client_address() {
    let gateway = Gateway::start().await;
    let client = gateway.client();
    // 30 a minute pass, API and shop forms, login and registration alike.
    for attempt in 0..30 {
        let (path, accept) = match attempt % 3 {
            0 => ("/login", None),
            1 => ("/register", Some("application/json")),
            _ => ("/login", Some(BROWSER)),
        };
        let answer = send(&client, Method::POST, &gateway.url(path), accept, &[]).await;
        assert_eq!(
            answer.status,
            200,
            "credential post {} of 30 ({path})",
            attempt + 1
        );
    }
    for (path, accept) in [
        ("/login", None),
        ("/register", None),
        ("/login", Some(BROWSER)),
    ] {
        let refused = send(&client, Method::POST, &gateway.url(path), accept, &[]).await;
        assert_eq!(
            refused.status, 429,
            "a 31st credential post ({path}, {accept:?})"
        );
        assert_eq!(refused.backend(), None, "refused before any service");
        assert_eq!(refused.header("retry-after"), Some("60"));
        assert_eq!(
            refused.header("content-type"),
            Some("application/problem+json")
        );
        assert_eq!(refused.body["status"], 429, "{}", refused.body);
        assert_security_headers(&refused, "the 429");
    }
    // Only credential posts are limited: the login page and the catalogue still answer.
    let page = send(
        &client,
        Method::GET,
        &gateway.url("/login"),
        Some(BROWSER),
        &[],
    )
    .await;
    assert_eq!(page.backend(), Some("storefront"), "a browser's login page");
    let catalogue = send(&client, Method::GET, &gateway.url("/products"), None, &[]).await;
    assert_eq!(catalogue.backend(), Some("product"));
    // Another address is counted on its own.
    let neighbour = gateway.client_from(Ipv4Addr::new(127, 0, 0, 2));
    let answer = send(&neighbour, Method::POST, &gateway.url("/login"), None, &[]).await;
    assert_eq!(answer.status, 200, "another client address is not limited");
    assert_eq!(answer.backend(), Some("user"));
    let forwarded_for = answer.forwarded("x-forwarded-for").join(",");
    assert!(forwarded_for.ends_with("127.0.0.2"), "{forwarded_for}");
}

#[tokio::test]
async fn only_what_is_safe_to_send_twice_is_sent_again_after_a_replica_fell_silent() {
    let gateway = Gateway::start().await;
    let client = gateway.http1_client();
    let cases: [(Method, &str, Option<&str>, bool); 8] = [
        (Method::GET, "/products/7", None, true),
        (Method::HEAD, "/products", None, true),
        (Method::GET, "/orders", None, true),
        // An order placement with a key returns the first order when sent twice.
        (Method::POST, "/orders", Some("key-1"), true),
        (Method::POST, "/orders", None, false),
        (Method::PUT, "/orders/7", None, false),
        (Method::DELETE, "/products/7", None, false),
        (Method::POST, "/login", None, false),
    ];
    for (index, (method, path, key, resent)) in cases.into_iter().enumerate() {
        let id = format!("case-{index}");
        let mut headers = vec![(FAIL_ONCE, id.as_str())];
        if let Some(key) = key {
            headers.push(("Idempotency-Key", key));
        }
        let answer = send(&client, method.clone(), &gateway.url(path), None, &headers).await;
        if resent {
            assert_eq!(
                answer.status, 200,
                "{method} {path} (key {key:?}) is sent again after no answer"
            );
        } else {
            assert_eq!(
                answer.status, 502,
                "{method} {path} (key {key:?}) must not be sent twice: {}",
                answer.body
            );
            assert_eq!(
                answer.header("content-type"),
                Some("application/problem+json")
            );
            assert_security_headers(&answer, "the 502");
        }
    }
}

#[test]
fn every_platforms_backends_load_with_the_routes() {
    check(&[Path::new(ROUTES), Path::new(COMPOSE_BACKENDS)])
        .unwrap_or_else(|complaint| panic!("{COMPOSE_BACKENDS}:\n{complaint}"));
    // Nomad's template, rendered as Nomad would with no replica registered yet, and with two.
    let template = nomad_backends_template();
    let scratch = Scratch::new("nomad-backends");
    for instances in [vec![], vec![("10.0.0.11", 23_001), ("10.0.0.12", 23_002)]] {
        let rendered = render_nomad_template(&template, &instances);
        let file = scratch.0.join("backends.cfg");
        std::fs::write(&file, &rendered).expect("writing the rendered backends");
        check(&[Path::new(ROUTES), &file]).unwrap_or_else(|complaint| {
            panic!("the Nomad backends rendered for {instances:?}:\n{rendered}\n{complaint}")
        });
        assert_eq!(
            rendered.matches("    server ").count(),
            instances.len() * PUBLIC_BACKENDS.len(),
            "a server per replica of each service:\n{rendered}"
        );
    }
}
