//! The console in a real browser: Debian's headless `chromium`, driven through
//! `chromedriver` with the W3C WebDriver protocol (plain HTTP + JSON from here, no
//! driver crate). The walk: log in with a tenant key, send a message through the API,
//! find it on the activity page by recipient, open it, the key list and a domain, log
//! out; then the operator's delivery page. Each page is saved as a PNG under `target/console-screenshots/`.
//!
//! `scripts/test.sh` installs `chromium` and `chromium-driver` (`ensure_chromium` in
//! `scripts/lib.sh`); `SLUICE_CHROMEDRIVER` / `SLUICE_CHROMIUM` name other binaries.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

use common::{ADMIN_TOKEN, TestEnv, simple_message};

/// The key W3C WebDriver names an element reference with.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn binary(env_var: &str, candidates: &[&str]) -> PathBuf {
    if let Ok(path) = std::env::var(env_var) {
        return path.into();
    }
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!(
                "{} not found: install Debian's chromium and chromium-driver (scripts/test.sh does), or set {env_var}",
                candidates[0]
            )
        })
}

/// A chromedriver process on a free loopback port and one browser session in it.
struct Browser {
    driver: tokio::process::Child,
    base: String,
    http: reqwest::Client,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn start() -> Self {
        let driver_bin = binary(
            "SLUICE_CHROMEDRIVER",
            &["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"],
        );
        let chromium = binary(
            "SLUICE_CHROMIUM",
            &["/usr/bin/chromium", "/usr/lib/chromium/chromium"],
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = tokio::process::Command::new(driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while http.get(format!("{base}/status")).send().await.is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let created: Value = http
            .post(format!("{base}/session"))
            .json(&json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": chromium,
                    "args": [
                        "--headless=new", "--no-sandbox", "--disable-gpu",
                        "--disable-dev-shm-usage", "--window-size=1280,900",
                        "--no-first-run", "--disable-extensions",
                        format!("--user-data-dir={}", profile.path().display()),
                    ]
                }
            }}}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {created}"));
        Self {
            base: format!("{base}/session/{session}"),
            driver,
            http,
            _profile: profile,
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let reply: Value = request.send().await.unwrap().json().await.unwrap();
        assert!(
            reply["value"].get("error").is_none(),
            "WebDriver {path}: {reply}"
        );
        reply["value"].clone()
    }

    async fn go(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    async fn find(&self, css: &str) -> String {
        let found = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        found[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("{css}: {found}"))
            .to_string()
    }

    async fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{element}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    async fn click(&self, css: &str) {
        let element = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{element}/click"),
            Some(json!({})),
        )
        .await;
    }

    async fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Waits (up to 10 s) for the browser to be at a URL containing `part`: a click
    /// that submits a form may return before the next page has loaded.
    async fn wait_url(&self, part: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let url = self.url().await;
            if url.contains(part) {
                return;
            }
            assert!(Instant::now() < deadline, "at {url}, never at {part}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn source(&self) -> String {
        self.call(reqwest::Method::GET, "/source", None)
            .await
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Saves the page as `target/console-screenshots/<name>.png`.
    async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap();
        assert!(bytes.starts_with(b"\x89PNG"), "a PNG");
        let dir =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/console-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, bytes).unwrap();
        path
    }

    async fn stop(mut self) {
        let _ = self.http.delete(&self.base).send().await;
        let _ = self.driver.kill().await;
    }
}

#[tokio::test]
async fn a_tenant_finds_a_sent_message_in_a_real_browser() {
    let env = TestEnv::start().await;
    let key = env.ready_tenant().await;
    let browser = Browser::start().await;

    browser.go(&env.url("/console/messages")).await;
    assert!(
        browser.url().await.contains("/console/login"),
        "logged out: to the login page"
    );
    browser.screenshot("01-login").await;
    browser.type_into("#token", &key).await;
    browser.click("form button[type=submit]").await;
    browser.wait_url("/console/messages").await;

    let mut body = simple_message("jane.doe@example.com");
    body["subject"] = json!("Your receipt");
    body["tags"] = json!(["receipt"]);
    let id = env.send(&key, body).await;
    env.wait_for_status(&key, &id, "delivered", Duration::from_secs(15))
        .await;

    // Search by recipient until the fan-out has copied the events to the feed.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        browser.go(&env.url("/console/messages")).await;
        browser
            .type_into("input[name=q]", "jane.doe@example.com")
            .await;
        browser.click("form.search button").await;
        if browser.source().await.contains(&id) {
            break;
        }
        assert!(Instant::now() < deadline, "{id} never listed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    browser.screenshot("02-activity-search").await;
    browser.go(&env.url("/console/messages")).await;
    browser.screenshot("03-activity").await;

    browser
        .click(&format!("a[href='/console/messages/{id}']"))
        .await;
    browser.wait_url(&format!("/console/messages/{id}")).await;
    let html = browser.source().await;
    for expected in [
        "Your receipt",
        "message.delivered",
        "jane.doe@example.com",
        "250",
    ] {
        assert!(html.contains(expected), "{expected}: {html}");
    }
    browser.screenshot("04-message").await;

    browser.go(&env.url("/console/api-keys")).await;
    assert!(browser.source().await.contains("this session"));
    browser.screenshot("05-api-keys").await;

    browser.go(&env.url("/console/domains")).await;
    browser.click("a[href='/console/domains/acme.test']").await;
    browser.wait_url("/console/domains/acme.test").await;
    assert!(browser.source().await.contains("_domainkey.acme.test"));
    browser.screenshot("06-domain").await;

    browser.click("form[action='/console/logout'] button").await;
    browser.wait_url("/console/login").await;
    browser.go(&env.url("/console/messages")).await;
    assert!(
        browser.url().await.contains("/console/login"),
        "the cookie no longer opens anything"
    );

    // The operator.
    browser.type_into("#token", ADMIN_TOKEN).await;
    browser.click("form button[type=submit]").await;
    browser.wait_url("/console/delivery").await;
    assert!(browser.source().await.contains("transactional queued"));
    browser.screenshot("07-delivery").await;

    browser.stop().await;
    env.stop().await;
}
