//! The pages at the HTTP level: forms need their CSRF token, the session cookie has the right
//! attributes, errors are pages a person can read, and bad input is a 4xx page, never a 5xx.

mod support;

use std::collections::HashMap;

use support::{StorefrontHandle, no_redirect_client, start_storefront, storefront_session};
use test_support::{ProductServiceHandle, UserServiceHandle};

/// A browser's worth of state for a plain HTTP client: its cookies.
#[derive(Default)]
struct Cookies(HashMap<String, String>);

impl Cookies {
    fn header(&self) -> String {
        self.0
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Keeps the cookies a response sets; returns their `Set-Cookie` lines.
    fn take(&mut self, response: &reqwest::Response) -> Vec<String> {
        let lines: Vec<String> = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|value| value.to_str().unwrap().to_owned())
            .collect();
        for line in &lines {
            let pair = line.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            self.0.insert(name.to_owned(), value.to_owned());
        }
        lines
    }
}

/// The CSRF token a page's forms carry.
/// Posts the login form, marked as having reached the gateway over HTTPS when `https`, and
/// returns the session's `Set-Cookie` line.
async fn log_in(
    client: &reqwest::Client,
    storefront: &StorefrontHandle,
    cookies: &mut Cookies,
    fields: &[(&str, &str)],
    https: bool,
) -> String {
    let mut request = client
        .post(storefront.url("/login"))
        .header("cookie", cookies.header());
    if https {
        request = request.header("x-forwarded-proto", "https");
    }
    let response = request.form(fields).send().await.unwrap();
    assert_eq!(response.status(), 303);
    cookies
        .take(&response)
        .into_iter()
        .find(|line| line.starts_with("sf_session="))
        .expect("a session cookie")
}

fn csrf_token(page: &str) -> String {
    let start = page
        .find(r#"name="csrf" value=""#)
        .expect("a form with a CSRF token")
        + 19;
    page[start..start + 64].to_owned()
}

async fn shop() -> (UserServiceHandle, ProductServiceHandle, StorefrontHandle) {
    let users = UserServiceHandle::start().await;
    let products = ProductServiceHandle::start(&users).await;
    let storefront = start_storefront(&[
        ("USER_SERVICE_URL", users.base_url.clone()),
        ("PRODUCT_SERVICE_URL", products.base_url.clone()),
        // Nothing listens there: these pages do not need orders or live updates.
        (
            "ORDER_SERVICE_URL",
            format!("http://127.0.0.1:{}", test_support::free_port()),
        ),
        (
            "NATS_URL",
            format!("nats://127.0.0.1:{}", test_support::free_port()),
        ),
    ])
    .await;
    (users, products, storefront)
}

#[tokio::test]
async fn forms_need_their_csrf_token_and_sessions_get_safe_cookies() {
    let (users, _products, storefront) = shop().await;
    users.register("carol", "carol-password").await;
    let client = no_redirect_client();
    let mut cookies = Cookies::default();
    let response = client.get(storefront.url("/login")).send().await.unwrap();
    cookies.take(&response);
    let token = csrf_token(&response.text().await.unwrap());
    let form = [("username", "carol"), ("password", "carol-password")];

    for (what, sent) in [("no token", None), ("a wrong token", Some("0".repeat(64)))] {
        let mut fields = form.to_vec();
        if let Some(sent) = &sent {
            fields.push(("csrf", sent));
        }
        let response = client
            .post(storefront.url("/login"))
            .header("cookie", cookies.header())
            .form(&fields)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "{what}");
        assert!(
            response.headers().get("set-cookie").is_none(),
            "{what}: no session"
        );
        assert!(response.text().await.unwrap().contains("Not allowed"));
    }

    let mut fields = form.to_vec();
    fields.push(("csrf", &token));
    let session = log_in(&client, &storefront, &mut cookies, &fields, true).await;
    for attribute in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/"] {
        assert!(session.contains(attribute), "{attribute} in {session}");
    }

    // The token on a page rendered before logging in is bound to that (absent) session.
    let response = client
        .post(storefront.url("/login"))
        .header("cookie", cookies.header())
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        403,
        "the token belonged to the old session"
    );

    // Over plain HTTP the cookie cannot be Secure, or the browser would never send it back.
    let response = client
        .get(storefront.url("/login"))
        .header("cookie", cookies.header())
        .send()
        .await
        .unwrap();
    let token = csrf_token(&response.text().await.unwrap());
    let mut fields = form.to_vec();
    fields.push(("csrf", &token));
    let session = log_in(&client, &storefront, &mut cookies, &fields, false).await;
    assert!(
        session.contains("HttpOnly") && !session.contains("Secure"),
        "{session}"
    );
    let response = client
        .get(storefront.url("/"))
        .header("cookie", cookies.header())
        .send()
        .await
        .unwrap();
    assert!(response.text().await.unwrap().contains("Log out carol"));
}

#[tokio::test]
async fn errors_and_bad_input_are_pages_a_person_can_read() {
    let (users, products, storefront) = shop().await;
    let (_, admin) = users.admin().await;
    products.product_with_stock(&admin, "Lamp", 3).await;
    let client = no_redirect_client();
    for (path, status, says) in [
        ("/no-such-page", 404, "Page not found"),
        ("/logout", 404, "Page not found"),
        ("/products/abc", 404, "Page not found"),
        ("/products/999999", 404, "Page not found"),
        ("/?min=ten", 422, "Min price must be an amount"),
        ("/?min=9&max=1", 422, "must not be above"),
        ("/?page=99999999", 404, "Page not found"),
        ("/?q=%00%FF&page=-3", 200, "Catalogue"),
    ] {
        readable_page(&client, &storefront, path, status, says).await;
    }
    // Pages that need a person send them to log in and back.
    let response = client
        .get(storefront.url("/orders/7"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(
        response.headers()["location"],
        "/login?expired=1&next=/orders/7"
    );
    // An expired or forged session is dropped and the page says so.
    let response = client
        .get(storefront.url("/"))
        .header("cookie", "sf_session=not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("Your session has expired")
    );
    // The runtime's own routes keep their JSON next to the pages.
    let response = client
        .get(storefront.url("/health/live"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("json")
    );
    // The live stream tells a logged-out page to stop trying.
    let response = client
        .get(storefront.url("/live/orders"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
}

/// GETs `path`: a titled HTML page with `status` that says `says`, with no problem document
/// in it. Returns the page.
async fn readable_page(
    client: &reqwest::Client,
    storefront: &StorefrontHandle,
    path: &str,
    status: u16,
    says: &str,
) -> String {
    let response = client.get(storefront.url(path)).send().await.unwrap();
    assert_eq!(response.status(), status, "{path}");
    let kind = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(kind.starts_with("text/html"), "{path}: {kind}");
    let page = response.text().await.unwrap();
    assert!(page.contains(says), "{path}: {page}");
    assert!(page.contains("<title>"), "{path}");
    assert!(!page.contains("urn:problem"), "{path}: {page}");
    page
}

/// A stand-in for a Product Service gone wrong, the one seam a real service cannot be made to
/// cross on purpose: the catalogue (`/products`) fails with a 500, and a product
/// (`/products/{id}`) is refused with a 400 no page expects.
#[salvo::handler]
async fn broken_catalogue(req: &mut salvo::Request, res: &mut salvo::Response) {
    let status = if req.uri().path() == "/products" {
        salvo::http::StatusCode::INTERNAL_SERVER_ERROR
    } else {
        salvo::http::StatusCode::BAD_REQUEST
    };
    res.status_code(status);
    res.add_header("content-type", "application/problem+json", true)
        .unwrap();
    res.body(format!(
        r#"{{"type":"urn:problem:broken","title":"Broken on purpose","status":{}}}"#,
        status.as_u16()
    ));
}

/// What a person sees when the API behind a page answers what it never should: a page that
/// says so in words (500 for an unexpected refusal, 503 for a failing service), never the
/// API's problem document.
#[tokio::test]
async fn an_api_gone_wrong_gives_the_500_and_503_pages() {
    let acceptor = shop_http::server::bind("127.0.0.1".parse().unwrap(), 0)
        .await
        .unwrap();
    let broken = shop_http::server::local_addr(&acceptor);
    let stand_in = tokio::spawn(salvo::Server::new(acceptor).serve(
        salvo::Router::new().push(salvo::Router::with_path("{**rest}").goal(broken_catalogue)),
    ));
    let storefront = start_storefront(&[
        ("PRODUCT_SERVICE_URL", format!("http://{broken}")),
        (
            "USER_SERVICE_URL",
            format!("http://127.0.0.1:{}", test_support::free_port()),
        ),
        (
            "ORDER_SERVICE_URL",
            format!("http://127.0.0.1:{}", test_support::free_port()),
        ),
        (
            "NATS_URL",
            format!("nats://127.0.0.1:{}", test_support::free_port()),
        ),
    ])
    .await;
    let client = no_redirect_client();
    for (path, status, says) in [
        ("/", 503, "Temporarily unavailable"),
        ("/products/1", 500, "Something went wrong"),
    ] {
        let page = readable_page(&client, &storefront, path, status, says).await;
        assert!(
            !page.contains("Broken on purpose"),
            "{path}: the API's problem document does not reach the page: {page}"
        );
    }
    storefront.stop().await;
    stand_in.abort();
}

/// Posts a form the way the page would: with the session and the page's CSRF token.
async fn submit(
    client: &reqwest::Client,
    storefront: &StorefrontHandle,
    cookies: &mut Cookies,
    page: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let response = client
        .get(storefront.url(page))
        .header("cookie", cookies.header())
        .send()
        .await
        .unwrap();
    cookies.take(&response);
    let token = csrf_token(&response.text().await.unwrap());
    let mut fields = fields.to_vec();
    fields.push(("csrf", &token));
    client
        .post(storefront.url(action))
        .header("cookie", cookies.header())
        .form(&fields)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_admin_creates_edits_and_restocks_products_and_a_customer_may_not() {
    let (users, products, storefront) = shop().await;
    let (admin, _) = users.admin().await;
    let (customer, _) = users.customer().await;
    let client = no_redirect_client();
    let mut cookies = Cookies::default();
    let admin = storefront_session(&storefront, &admin, "admin-password").await;
    cookies.0.insert("sf_session".into(), admin);
    let product = [
        ("name", "Teak shelf"),
        ("description", "Oiled teak"),
        ("price", "$120.50"),
        ("quantity", "4"),
    ];
    let page = "/admin/products";
    let response = submit(&client, &storefront, &mut cookies, page, page, &product).await;
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let id = location.rsplit('=').next().unwrap().to_owned();
    let stored: serde_json::Value = products.get_json(&format!("/products/{id}")).await;
    assert_eq!(stored["price"], "120.50");
    assert_eq!(stored["quantity"], 4);

    let edit = format!("/admin/products/{id}");
    let changed = [
        ("name", "Teak shelf, large"),
        ("description", "Oiled teak"),
        ("price", "130"),
        ("quantity", "4"),
    ];
    let response = submit(&client, &storefront, &mut cookies, &edit, &edit, &changed).await;
    assert_eq!(response.status(), 303);
    let restock = format!("{edit}/restock");
    let response = submit(
        &client,
        &storefront,
        &mut cookies,
        &edit,
        &restock,
        &[("add", "6")],
    )
    .await;
    assert_eq!(response.status(), 303);
    let page = client
        .get(storefront.url(&edit))
        .header("cookie", cookies.header())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(r#"value="Teak shelf, large""#), "{page}");
    assert!(page.contains(r#"value="10""#), "4 + 6 in stock: {page}");

    // A refused price comes back as a sentence next to what was typed.
    let bad = [
        ("name", "X"),
        ("description", ""),
        ("price", "1.234"),
        ("quantity", "1"),
    ];
    let response = submit(&client, &storefront, &mut cookies, &edit, &edit, &bad).await;
    assert_eq!(response.status(), 422);
    let page = response.text().await.unwrap();
    assert!(page.contains("Please check: price"), "{page}");

    // A customer gets a refusal page, not the form.
    let mut cookies = Cookies::default();
    let customer = storefront_session(&storefront, &customer, "customer-password").await;
    cookies.0.insert("sf_session".into(), customer);
    let response = client
        .get(storefront.url("/admin/products"))
        .header("cookie", cookies.header())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
}

/// The binary, not the library: a bad setting stops it before it serves, naming the key.
#[tokio::test]
async fn the_binary_refuses_a_bad_setting_naming_it() {
    let binary = env!("CARGO_BIN_EXE_storefront");
    test_infra::startup::assert_refuses_setting(binary, "PORT", "eighty").await;
    test_infra::startup::assert_refuses_setting(binary, "STOREFRONT_API_TIMEOUT_MS", "0").await;
}
