//! A small W3C WebDriver client over reqwest, for a headless Chromium through chromedriver.
//!
//! Written here rather than taken from fantoccini or thirtyfour: fantoccini's `webdriver`
//! dependency brings second copies of http, cookie, thiserror and the ICU crates, thirtyfour a
//! driver downloader with zip, tar and websockets. The dozen commands a test needs are plain
//! JSON over HTTP.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

/// The key under which WebDriver returns an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A `chromedriver` on a free port, killed (by its PID) when dropped.
#[derive(Debug)]
pub struct ChromeDriver {
    pub url: String,
    _child: Child,
}

/// `CHROMEDRIVER` if set; else the one in `CHROMEWEBDRIVER` (the directory GitHub's runner
/// images keep the chromedriver matching their Chrome in); else `chromedriver` on the path
/// (Debian's `chromium-driver`). The browser is `CHROME_BIN`, else Debian's `/usr/bin/chromium`.
fn chromedriver_program() -> String {
    std::env::var("CHROMEDRIVER")
        .or_else(|_| {
            std::env::var("CHROMEWEBDRIVER").map(|directory| format!("{directory}/chromedriver"))
        })
        .unwrap_or_else(|_| "chromedriver".into())
}

impl ChromeDriver {
    pub async fn start() -> Self {
        let port = test_support::free_port();
        let child = Command::new(chromedriver_program())
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver is installed (cargo xtask test installs it)");
        let url = format!("http://127.0.0.1:{port}");
        let client = test_support::http_client();
        test_support::wait_until("chromedriver", Duration::from_secs(20), || async {
            let response = client.get(format!("{url}/status")).send().await.ok()?;
            let body: Value = response.json().await.ok()?;
            body["value"]["ready"]
                .as_bool()
                .filter(|ready| *ready)
                .map(drop)
        })
        .await;
        Self { url, _child: child }
    }
}

/// One browser: its own profile directory, closed (and the directory removed) on [`Browser::quit`].
#[derive(Debug)]
pub struct Browser {
    http: reqwest::Client,
    session: String,
    profile: PathBuf,
}

/// The window a browser opens with.
#[derive(Debug, Clone, Copy)]
pub enum Viewport {
    Desktop,
    /// 390 × 844 CSS pixels, as a current phone (below the smallest headless window).
    Phone,
}

/// A reference to an element of the current page.
#[derive(Debug, Clone)]
pub struct Element(String);

impl Browser {
    /// A new headless Chromium with the flags this machine needs (no background networking: the
    /// machine's closed network refuses it), in a phone- or desktop-sized window.
    pub async fn open(driver: &ChromeDriver, viewport: Viewport) -> Self {
        let profile = std::env::temp_dir().join(format!(
            "storefront-chrome-{}",
            uuid::Uuid::new_v4().simple()
        ));
        let args = vec![
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            format!("--user-data-dir={}", profile.display()),
            "--window-size=1280,900".to_owned(),
        ];
        let binary = std::env::var("CHROME_BIN").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let mut options = json!({"binary": binary, "args": args});
        if let Viewport::Phone = viewport {
            options["mobileEmulation"] =
                json!({"deviceMetrics": {"width": 390, "height": 844, "pixelRatio": 2.0}});
        }
        let http = test_support::http_client();
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": options,
        }}});
        let response = http
            .post(format!("{}/session", driver.url))
            .json(&capabilities)
            .send()
            .await
            .expect("chromedriver answers");
        let body: Value = response.json().await.expect("session JSON");
        let session = body["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {body}"))
            .to_owned();
        Self {
            http,
            session: format!("{}/session/{session}", driver.url),
            profile,
        }
    }

    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.session));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("chromedriver answers");
        let status = response.status();
        let body: Value = response.json().await.expect("WebDriver JSON");
        assert!(status.is_success(), "WebDriver {path}: {status} {body}");
        body["value"].clone()
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.command(reqwest::Method::POST, path, Some(body)).await
    }

    async fn get(&self, path: &str) -> Value {
        self.command(reqwest::Method::GET, path, None).await
    }

    pub async fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url })).await;
    }

    pub async fn current_url(&self) -> String {
        self.get("/url")
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub async fn title(&self) -> String {
        self.get("/title")
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The elements matching a CSS selector now (none is not an error).
    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        let found = self
            .post("/elements", json!({"using": "css selector", "value": css}))
            .await;
        found
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|item| item[ELEMENT].as_str().map(|id| Element(id.to_owned())))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The first element matching `css`, waiting for it (the deadline only guards a hang).
    pub async fn find(&self, css: &str) -> Element {
        let deadline = std::time::Instant::now() + test_support::HANG_GUARD;
        loop {
            if let Some(element) = self.find_all(css).await.into_iter().next() {
                return element;
            }
            if std::time::Instant::now() > deadline {
                self.fail(&format!("no element {css}")).await;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Fails the test with what the page shows, keeping a screenshot of it.
    async fn fail(&self, what: &str) -> ! {
        let url = self.current_url().await;
        let text = self.execute("return document.body.innerText").await;
        let directory =
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
        let shot = self.screenshot(&directory, "failure").await;
        panic!(
            "{what} on {url} (screenshot {}):\n{}",
            shot.display(),
            text.as_str().unwrap_or_default()
        );
    }

    pub async fn click(&self, element: &Element) {
        self.post(&format!("/element/{}/click", element.0), json!({}))
            .await;
    }

    /// Two clicks in quick succession with the mouse, as a person double-clicks.
    pub async fn double_click(&self, element: &Element) {
        let origin = json!({ ELEMENT: element.0 });
        let actions = json!([
            {"type": "pointerMove", "origin": origin, "x": 0, "y": 0},
            {"type": "pointerDown", "button": 0},
            {"type": "pointerUp", "button": 0},
            {"type": "pointerDown", "button": 0},
            {"type": "pointerUp", "button": 0},
        ]);
        self.post(
            "/actions",
            json!({"actions": [{
                "type": "pointer", "id": "mouse",
                "parameters": {"pointerType": "mouse"}, "actions": actions,
            }]}),
        )
        .await;
    }

    /// Replaces the text of an input.
    pub async fn fill(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        self.post(&format!("/element/{}/clear", element.0), json!({}))
            .await;
        self.post(
            &format!("/element/{}/value", element.0),
            json!({ "text": text }),
        )
        .await;
    }

    pub async fn text(&self, css: &str) -> String {
        let element = self.find(css).await;
        self.get(&format!("/element/{}/text", element.0))
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Runs `script` in the page and returns its result.
    pub async fn execute(&self, script: &str) -> Value {
        self.post("/execute/sync", json!({"script": script, "args": []}))
            .await
    }

    /// Runs `script`, which ends by calling `arguments[0]` with its result.
    pub async fn execute_async(&self, script: &str) -> Value {
        self.post("/execute/async", json!({"script": script, "args": []}))
            .await
    }

    /// The page's cumulative layout shift so far (0 when nothing moved after it was drawn):
    /// the buffered `layout-shift` entries, taken synchronously.
    pub async fn layout_shift(&self) -> LayoutShift {
        let measured = self
            .execute(
                "const observer = new PerformanceObserver(() => {});\
                 observer.observe({type: 'layout-shift', buffered: true});\
                 const entries = observer.takeRecords().filter(e => !e.hadRecentInput);\
                 observer.disconnect();\
                 const name = (node) => !node ? '(gone)' : node.nodeName.toLowerCase()\
                   + (node.id ? '#' + node.id : '')\
                   + (typeof node.className === 'string' && node.className ? '.' + node.className.split(' ').join('.') : '');\
                 return {\
                   total: entries.reduce((sum, e) => sum + e.value, 0),\
                   moved: entries.flatMap(e => (e.sources || []).map(s => name(s.node)\
                     + ' ' + JSON.stringify(s.previousRect) + ' -> ' + JSON.stringify(s.currentRect)))\
                 };",
            )
            .await;
        LayoutShift {
            total: measured["total"].as_f64().expect("a number"),
            moved: measured["moved"]
                .as_array()
                .expect("a list")
                .iter()
                .map(|source| source.as_str().unwrap_or_default().to_owned())
                .collect(),
        }
    }

    /// Presses keys in the focused element (WebDriver's key codes, e.g. `\u{E004}` for Tab).
    pub async fn keys(&self, text: &str) {
        let actions: Vec<Value> = text
            .chars()
            .flat_map(|key| {
                let key = key.to_string();
                [
                    json!({"type": "keyDown", "value": key}),
                    json!({"type": "keyUp", "value": key}),
                ]
            })
            .collect();
        self.post(
            "/actions",
            json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]}),
        )
        .await;
    }

    /// Saves a PNG of the viewport under `directory/name.png`.
    pub async fn screenshot(&self, directory: &Path, name: &str) -> PathBuf {
        let encoded = self.get("/screenshot").await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().unwrap_or_default())
            .expect("a base64 PNG");
        std::fs::create_dir_all(directory).expect("screenshot directory");
        let path = directory.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("writing a screenshot");
        path
    }

    /// Waits until the page's body text contains `needle`, failing after `deadline`.
    pub async fn wait_for_text(&self, needle: &str, deadline: Duration) {
        let until = std::time::Instant::now() + deadline;
        loop {
            let body = self.execute("return document.body.innerText").await;
            if body.as_str().is_some_and(|text| text.contains(needle)) {
                return;
            }
            if std::time::Instant::now() > until {
                self.fail(&format!("no text {needle:?} after {deadline:?}"))
                    .await;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until the address contains `part` (a navigation has happened).
    pub async fn wait_for_url(&self, part: &str, deadline: Duration) {
        let until = std::time::Instant::now() + deadline;
        while !self.current_url().await.contains(part) {
            if std::time::Instant::now() > until {
                self.fail(&format!("no address with {part:?} after {deadline:?}"))
                    .await;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn quit(self) {
        let _ = self.http.delete(&self.session).send().await;
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// The page's cumulative layout shift since it loaded, and what moved (element, from, to), so
/// that a failure names the element.
#[derive(Debug)]
pub struct LayoutShift {
    pub total: f64,
    pub moved: Vec<String>,
}
