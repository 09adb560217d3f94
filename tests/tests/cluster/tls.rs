//! TLS at the gateway: the public entry point serves the certificate generated for local runs,
//! a client trusting only its CA gets through, one trusting the usual roots does not, and plain
//! HTTP only redirects to HTTPS. (Every other cluster test also goes through HTTPS.)

use std::time::Duration;

use gateway::{Backend, Gateway, LocalTls};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{HEALTH_INTERVAL, https_client_builder, test_port};

/// A backend answering every request with 200 `backend` (plain HTTP, as the services speak it
/// behind the gateway); returns its base URL.
async fn stub_backend() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = [0_u8; 4096];
                let _ = stream.read(&mut head).await;
                let _ = stream
                    .write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: close\r\n\r\nbackend",
                    )
                    .await;
            });
        }
    });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_serves_its_certificate_and_redirects_plain_http() {
    let dir = std::env::temp_dir().join(format!("test-gateway-tls-{}", uuid::Uuid::new_v4()));
    let tls = LocalTls::load_or_create(&dir.join("tls")).expect("local certificate");
    let backends = [Backend {
        name: "product",
        urls: vec![stub_backend().await],
    }];
    let gateway = Gateway::start(&dir, 0, &backends, HEALTH_INTERVAL, &tls, test_port)
        .await
        .expect("the gateway starts");
    assert!(gateway.url.starts_with("https://"), "{}", gateway.url);

    let trusting = https_client_builder(&tls)
        .tls_info(true)
        .build()
        .expect("client");
    // Routed over HTTPS: the public routers serve TLS (an entry point without TLS would still
    // complete a handshake, then answer every HTTPS request with its own 404).
    let response = test_support::wait_until(
        "the gateway to route /products over HTTPS",
        Duration::from_secs(10),
        || async {
            // Until the gateway's health check has found the replica up, the answer is a 503.
            let response = trusting
                .get(format!("{}/products", gateway.url))
                .send()
                .await
                .ok()?;
            (response.status() == 200).then_some(response)
        },
    )
    .await;
    let served = response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(reqwest::tls::TlsInfo::peer_certificate)
        .expect("the gateway presented a certificate")
        .to_vec();
    assert!(
        served
            .windows(b"shop local gateway".len())
            .any(|window| window == b"shop local gateway"),
        "the served certificate is the generated one"
    );

    assert_eq!(response.text().await.unwrap(), "backend");
    // Plain HTTP on the HTTPS port reaches no backend.
    let plain = test_support::http_client()
        .get(format!("http://{}/products", gateway.address))
        .send()
        .await;
    assert!(
        plain.map_or(true, |response| response.status() != 200),
        "plain HTTP was routed on the HTTPS port"
    );

    // The machine's roots do not know the local CA: the handshake must fail.
    let untrusting = test_support::http_client();
    let refused = untrusting
        .get(format!("{}/products", gateway.url))
        .send()
        .await;
    assert!(
        refused.is_err(),
        "a client without the local CA accepted the certificate"
    );

    // Plain HTTP answers only with a redirect to the HTTPS entry point.
    let no_redirects = https_client_builder(&tls)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let redirect = no_redirects
        .get(format!("{}/products?page=2", gateway.redirect_url))
        .send()
        .await
        .expect("a plain-HTTP answer");
    assert!(
        redirect.status().is_redirection(),
        "plain HTTP is not served: {}",
        redirect.status()
    );
    let location = redirect
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    assert_eq!(
        location,
        format!(
            "https://127.0.0.1:{}/products?page=2",
            gateway.address.port()
        )
    );

    gateway.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
