//! The web console over plain HTTP, as a browser without JavaScript uses it: login
//! with a tenant key or the admin token (cookie attributes), every form refused
//! without the session's CSRF token, scopes as in the API, tenants kept apart, a
//! revoked key's session ended, and the activity search. The real-browser walk is in
//! `console_browser`.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::time::{Duration, Instant};

use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use common::{ADMIN_TOKEN, TestEnv, simple_message};

/// A client that shows redirects instead of following them (and keeps no cookies:
/// each test carries its session cookie by hand).
pub fn client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

const FORM: &str = "application/x-www-form-urlencoded";

/// An HTML form's body (`application/x-www-form-urlencoded`).
pub fn form_body(pairs: &[(&str, &str)]) -> String {
    let encode = |text: &str| {
        text.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect::<String>()
    };
    pairs
        .iter()
        .map(|(name, value)| format!("{}={}", encode(name), encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A logged-in console session: its cookie (`name=value`) and its forms' CSRF token.
pub struct Session {
    pub cookie: String,
    pub csrf: String,
}

pub async fn login_response(env: &TestEnv, token: &str) -> Response {
    client()
        .post(env.url("/console/login"))
        .header(CONTENT_TYPE, FORM)
        .body(form_body(&[("token", token)]))
        .send()
        .await
        .unwrap()
}

/// The `name=value` part of the response's session cookie.
fn cookie_of(response: &Response) -> String {
    let set = response.headers()[SET_COOKIE].to_str().unwrap();
    set.split(';').next().unwrap().to_string()
}

/// The first CSRF token in a page's forms.
pub fn csrf_in(html: &str) -> String {
    let marker = r#"name="csrf" value=""#;
    let start = html.find(marker).expect("a form with a CSRF token") + marker.len();
    html[start..].split('"').next().unwrap().to_string()
}

/// Logs in with `token` and reads the CSRF token from the landing page.
pub async fn login(env: &TestEnv, token: &str) -> Session {
    let response = login_response(env, token).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cookie = cookie_of(&response);
    let landing = response.headers()[LOCATION].to_str().unwrap().to_string();
    let mut session = Session {
        cookie,
        csrf: String::new(),
    };
    let (status, html) = page(env, &session, &landing).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    session.csrf = csrf_in(&html);
    session
}

async fn get(env: &TestEnv, session: &Session, path: &str) -> Response {
    client()
        .get(env.url(path))
        .header(COOKIE, &session.cookie)
        .send()
        .await
        .unwrap()
}

/// A page's status and HTML.
async fn page(env: &TestEnv, session: &Session, path: &str) -> (StatusCode, String) {
    let response = get(env, session, path).await;
    (response.status(), response.text().await.unwrap())
}

async fn post(env: &TestEnv, session: &Session, path: &str, form: &[(&str, &str)]) -> Response {
    client()
        .post(env.url(path))
        .header(COOKIE, &session.cookie)
        .header(CONTENT_TYPE, FORM)
        .body(form_body(form))
        .send()
        .await
        .unwrap()
}

/// The text of HTML-escaped markup (what a browser shows, and what a copy button copies).
fn unescape(html: &str) -> String {
    html.replace("&#x2f;", "/")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn location(response: &Response) -> String {
    response.headers()[LOCATION].to_str().unwrap().to_string()
}

fn later(to: &str) -> Value {
    let mut body = simple_message(to);
    let at = OffsetDateTime::now_utc() + time::Duration::hours(1);
    body["send_at"] = json!(at.format(&Rfc3339).unwrap());
    body
}

#[tokio::test]
async fn login_sets_a_strict_http_only_cookie_and_a_bad_token_is_refused() {
    let env = TestEnv::start().await;
    let key = env.ready_tenant().await;

    let response = login_response(&env, &key).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/console/messages");
    let set = response.headers()[SET_COOKIE].to_str().unwrap().to_string();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(set.contains(attribute), "{attribute} missing: {set}");
    }
    assert!(!set.contains("Secure"), "plain HTTP: {set}");
    assert!(
        !set.contains(&key),
        "the cookie never carries the key: {set}"
    );

    // Behind a TLS-terminating proxy the cookie is Secure.
    let response = client()
        .post(env.url("/console/login"))
        .header("x-forwarded-proto", "https")
        .header(CONTENT_TYPE, FORM)
        .body(form_body(&[("token", key.as_str())]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let set = response.headers()[SET_COOKIE].to_str().unwrap();
    assert!(set.contains("; Secure"), "{set}");

    // A bad token: 401, the form again, no cookie.
    for bad in ["sk_not-a-real-key", "not-the-admin-token"] {
        let response = login_response(&env, bad).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(response.headers().get(SET_COOKIE).is_none());
        let html = response.text().await.unwrap();
        assert!(html.contains(r#"name="token""#), "{html}");
    }

    // A good key posted from another site's page (login CSRF): refused, no cookie.
    // From this console's own page (same Origin as Host), it logs in.
    let host = env.url("").trim_start_matches("http://").to_string();
    let login_from = |origin: String| {
        client()
            .post(env.url("/console/login"))
            .header(CONTENT_TYPE, FORM)
            .header("Origin", origin)
            .body(form_body(&[("token", &key)]))
            .send()
    };
    let response = login_from("https://evil.example".into()).await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.headers().get(SET_COOKIE).is_none());
    let response = login_from(format!("http://{host}")).await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(response.headers().get(SET_COOKIE).is_some());

    // No cookie, or a made-up one: to the login page.
    let nobody = Session {
        cookie: "sluice_console=made-up".into(),
        csrf: String::new(),
    };
    let response = get(&env, &nobody, "/console/messages").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(location(&response).starts_with("/console/login"));

    // Logged in, then out: the cookie no longer opens anything.
    let session = login(&env, &key).await;
    let (status, html) = page(&env, &session, "/console/messages").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Activity"), "{html}");
    let response = post(
        &env,
        &session,
        "/console/logout",
        &[("csrf", &session.csrf)],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(
        response.headers()[SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let response = get(&env, &session, "/console/messages").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(location(&response).starts_with("/console/login"));
    env.stop().await;
}

#[tokio::test]
async fn forms_without_the_sessions_csrf_token_are_refused() {
    let env = TestEnv::start().await;
    let key = env.ready_tenant().await;
    let id = env.send(&key, later("jane@example.com")).await;
    let session = login(&env, &key).await;
    let other = login(&env, &key).await;
    assert_ne!(session.csrf, other.csrf, "a token per session");
    let cancel = format!("/console/messages/{id}/cancel");

    for form in [
        vec![],
        vec![("csrf", "wrong")],
        vec![("csrf", other.csrf.as_str())],
    ] {
        let response = post(&env, &session, &cancel, &form).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{form:?}");
        let html = response.text().await.unwrap();
        assert!(html.contains("CSRF"), "{html}");
    }
    let response = post(&env, &session, "/console/logout", &[("csrf", "wrong")]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(env.message(&key, &id).await["status"], "scheduled");

    // With the token, the API's cancel runs.
    let response = post(&env, &session, &cancel, &[("csrf", &session.csrf)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), format!("/console/messages/{id}"));
    assert_eq!(env.message(&key, &id).await["status"], "cancelled");
    // Again: the API's 409, as a page.
    let response = post(&env, &session, &cancel, &[("csrf", &session.csrf)]).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    env.stop().await;
}

#[tokio::test]
async fn another_tenants_message_is_a_404() {
    let env = TestEnv::start().await;
    let key_a = env.ready_tenant().await;
    let key_b = env.ready_tenant().await;
    let id = env.send(&key_a, later("jane@example.com")).await;
    let a = login(&env, &key_a).await;
    let b = login(&env, &key_b).await;

    let (status, html) = page(&env, &a, &format!("/console/messages/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("jane@example.com"), "{html}");

    let (status, html) = page(&env, &b, &format!("/console/messages/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!html.contains("jane@example.com"), "{html}");
    let response = post(
        &env,
        &b,
        &format!("/console/messages/{id}/cancel"),
        &[("csrf", &b.csrf)],
    )
    .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(env.message(&key_a, &id).await["status"], "scheduled");
    let (status, _) = page(&env, &b, "/console/messages/not-an-id").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // B's activity does not list A's message.
    let (status, html) = page(&env, &b, "/console/messages").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains(&id), "{html}");
    env.stop().await;
}

#[tokio::test]
async fn a_revoked_keys_session_is_logged_out_at_once() {
    let env = TestEnv::start().await;
    let (tenant, admin_key) = env.tenant_with_key(&["send", "read", "admin"]).await;
    let reader: Value = env
        .admin_post(
            &format!("/v1/admin/tenants/{tenant}/api-keys"),
            json!({"scopes": ["read"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let (reader_id, reader_key) = (
        reader["id"].as_str().unwrap(),
        reader["key"].as_str().unwrap(),
    );
    let reader_session = login(&env, reader_key).await;
    let admin_session = login(&env, &admin_key).await;

    // Revoked through the API: the next page is the login page.
    let response = env
        .http
        .delete(env.url(&format!("/v1/api-keys/{reader_id}")))
        .bearer_auth(&admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = get(&env, &reader_session, "/console/messages").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/console/login?m=revoked");
    // The session is gone for good, not just refused once.
    let response = get(&env, &reader_session, "/console/messages").await;
    assert_eq!(location(&response), "/console/login?m=expired");

    // Revoking its own key through the console ends the session too.
    let (status, html) = page(&env, &admin_session, "/console/api-keys").await;
    assert_eq!(status, StatusCode::OK);
    let admin_id = html
        .split("/console/api-keys/")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let response = post(
        &env,
        &admin_session,
        &format!("/console/api-keys/{admin_id}/revoke"),
        &[("csrf", &admin_session.csrf)],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let response = get(&env, &admin_session, "/console/api-keys").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/console/login?m=revoked");
    assert_eq!(
        env.get(&admin_key, "/v1/events").await.status(),
        StatusCode::UNAUTHORIZED
    );
    env.stop().await;
}

#[tokio::test]
async fn a_read_only_key_sees_pages_but_its_forms_are_refused() {
    let env = TestEnv::start().await;
    let (tenant, full_key) = env.tenant_with_key(&["send", "read", "admin"]).await;
    let domain = env
        .post(&full_key, "/v1/domains", json!({"name": "acme.test"}))
        .await;
    assert_eq!(domain.status(), StatusCode::CREATED);
    let id = env.send(&full_key, later("jane@example.com")).await;
    let reader: Value = env
        .admin_post(
            &format!("/v1/admin/tenants/{tenant}/api-keys"),
            json!({"scopes": ["read"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let session = login(&env, reader["key"].as_str().unwrap()).await;

    let (status, html) = page(&env, &session, &format!("/console/messages/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains("Cancel this message"), "{html}");
    let response = post(
        &env,
        &session,
        &format!("/console/messages/{id}/cancel"),
        &[("csrf", &session.csrf)],
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.text().await.unwrap().contains("`send` scope"));
    assert_eq!(env.message(&full_key, &id).await["status"], "scheduled");
    // The key list needs `admin`, as GET /v1/api-keys does.
    let (status, _) = page(&env, &session, "/console/api-keys").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let key_id = reader["id"].as_str().unwrap();
    let response = post(
        &env,
        &session,
        &format!("/console/api-keys/{key_id}/revoke"),
        &[("csrf", &session.csrf)],
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    // And the operator's page is not a tenant's.
    let (status, _) = page(&env, &session, "/console/delivery").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    env.stop().await;
}

/// Polls the activity page for `q` until it lists `id`.
async fn wait_listed(env: &TestEnv, session: &Session, q: &str, id: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, html) = page(env, session, &format!("/console/messages?q={q}")).await;
        assert_eq!(status, StatusCode::OK, "{html}");
        if html.contains(id) {
            return html;
        }
        assert!(
            Instant::now() < deadline,
            "{id} never listed for {q}: {html}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn search_finds_a_sent_message_by_recipient_tag_status_and_id() {
    let env = TestEnv::start().await;
    let key = env.ready_tenant().await;
    let mut body = simple_message("Jane@Example.com");
    body["tags"] = json!(["welcome"]);
    body["subject"] = json!("Welcome <aboard>");
    let sent = env.send(&key, body).await;
    let other = env.send(&key, simple_message("bob@example.com")).await;
    env.wait_for_status(&key, &sent, "delivered", Duration::from_secs(15))
        .await;
    let session = login(&env, &key).await;

    let html = wait_listed(&env, &session, "jane%40example.com", &sent).await;
    assert!(
        !html.contains(&other),
        "bob's message is not jane's: {html}"
    );
    assert!(
        html.contains("Welcome &lt;aboard&gt;"),
        "the subject, escaped: {html}"
    );
    let html = wait_listed(&env, &session, "welcome", &sent).await;
    assert!(!html.contains(&other), "{html}");
    wait_listed(&env, &session, "tag%3Awelcome", &sent).await;
    wait_listed(&env, &session, "delivered", &sent).await;
    let html = wait_listed(&env, &session, "", &other).await;
    assert!(html.contains(&sent), "everything: {html}");
    let (_, html) = page(&env, &session, "/console/messages?q=no-such-tag").await;
    assert!(!html.contains(&sent), "{html}");

    // A message id goes straight to the message.
    let response = get(&env, &session, &format!("/console/messages?q={sent}")).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), format!("/console/messages/{sent}"));
    let (status, html) = page(&env, &session, &format!("/console/messages/{sent}")).await;
    assert_eq!(status, StatusCode::OK);
    for expected in [
        "message.accepted",
        "message.delivered",
        "Jane@example.com",
        "250 ",
    ] {
        assert!(html.contains(expected), "{expected}: {html}");
    }
    assert!(
        !html.contains("Cancel this message"),
        "delivered: nothing to cancel"
    );

    // The charts count both deliveries (the fan-out counts after the feed copy).
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, html) = page(&env, &session, "/console/messages").await;
        assert_eq!(html.matches("<svg").count(), 2, "{html}");
        if html.matches("delivered 2").count() == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "never counted: {html}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let operator = login(&env, ADMIN_TOKEN).await;
    let (_, html) = page(&env, &operator, "/console/delivery").await;
    assert!(
        html.contains("delivered 2"),
        "every tenant's counts: {html}"
    );
    env.stop().await;
}

#[tokio::test]
async fn the_operator_sees_delivery_and_pauses_and_resumes_a_target() {
    let env = TestEnv::start().await;
    let response = login_response(&env, ADMIN_TOKEN).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/console/delivery");
    let (tenant, _) = env.tenant_with_key(&["read"]).await;
    let session = login(&env, ADMIN_TOKEN).await;
    let (status, html) = page(&env, &session, "/console/delivery").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("transactional queued"), "{html}");
    assert!(html.contains("oldest transactional wait"), "{html}");
    // No blocklist is configured here, and the page says so.
    assert!(html.contains("No DNS blocklist is watched"), "{html}");
    // Every tenant with its quotas (the test configuration's: 1000000 per second).
    assert!(html.contains(&tenant), "{html}");
    assert!(html.contains("1000000 / 1000000 / 1000000000"), "{html}");
    assert!(html.contains("gmail"), "the built-in providers: {html}");

    let pause = [
        ("csrf", session.csrf.as_str()),
        ("ip", "127.0.0.9"),
        ("provider", "gmail"),
        ("minutes", "30"),
    ];
    let response = post(&env, &session, "/console/delivery/pause", &pause[1..]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "no CSRF token");
    let response = post(&env, &session, "/console/delivery/pause", &pause).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let overview: Value = env
        .get(ADMIN_TOKEN, "/v1/admin/delivery")
        .await
        .json()
        .await
        .unwrap();
    let target = overview["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["target"] == "127.0.0.9|gmail")
        .unwrap_or_else(|| panic!("paused target listed: {overview}"));
    assert_eq!(target["suspension"], "manual");
    let (_, html) = page(&env, &session, "/console/delivery").await;
    assert!(html.contains("Resume"), "{html}");

    let bad = [("csrf", session.csrf.as_str()), ("ip", "not-an-ip")];
    let response = post(&env, &session, "/console/delivery/pause", &bad).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(response.text().await.unwrap().contains("ip"));

    let response = post(&env, &session, "/console/delivery/resume", &pause[..3]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let overview: Value = env
        .get(ADMIN_TOKEN, "/v1/admin/delivery")
        .await
        .json()
        .await
        .unwrap();
    let still = overview["targets"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["target"] == "127.0.0.9|gmail" && !t["suspended_until"].is_null());
    assert!(!still, "resumed: {overview}");

    // The operator has no tenant pages.
    let (status, _) = page(&env, &session, "/console/messages").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    env.stop().await;
}

#[tokio::test]
async fn domains_show_records_to_copy_and_verify_and_rotate_through_the_api_calls() {
    use crate::domain_support::{ALL, create, publish, start};
    let dns = sluice_test_dns::DnsFixture::start().await.unwrap();
    let env = start(&dns, |_| {}).await;
    let (tenant, key) = env.tenant_with_key(&["send", "read", "admin"]).await;
    let created = create(&env, &key, json!({"name": "acme.test"})).await;
    let selector = created["dkim"]["selector"].as_str().unwrap();
    let session = login(&env, &key).await;

    let (status, html) = page(&env, &session, "/console/domains").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains(r#"href="/console/domains/acme.test""#),
        "{html}"
    );
    let (status, html) = page(&env, &session, "/console/domains/acme.test").await;
    assert_eq!(status, StatusCode::OK);
    let text = unescape(&html);
    for record in created["dns_records"].as_array().unwrap() {
        let value = record["value"].as_str().unwrap();
        assert!(text.contains(value), "{value} in {html}");
    }
    assert!(html.contains(r#"class="copy""#), "copy buttons: {html}");
    assert!(html.contains("Not checked yet"), "{html}");

    // Verify with nothing published: each check shown as missing.
    let verify = "/console/domains/acme.test/verify";
    let response = post(&env, &session, verify, &[("csrf", &session.csrf)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, html) = page(&env, &session, "/console/domains/acme.test").await;
    assert!(html.contains(r#"status missing">missing"#), "{html}");
    assert!(html.contains(r#"status unverified">unverified"#), "{html}");
    // Published: verified.
    publish(&dns, &created, ALL);
    let response = post(&env, &session, verify, &[("csrf", &session.csrf)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let view = env.get(&key, "/v1/domains/acme.test").await;
    let view: Value = view.json().await.unwrap();
    assert_eq!(view["verification"]["status"], "verified");
    let (_, html) = page(&env, &session, "/console/domains/acme.test").await;
    assert!(html.contains(r#"status verified">verified"#), "{html}");

    // Rotation: a pending key; a second one is the API's 409.
    let rotate = "/console/domains/acme.test/rotate";
    let response = post(&env, &session, rotate, &[("csrf", &session.csrf)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, html) = page(&env, &session, "/console/domains/acme.test").await;
    assert!(html.contains(r#"status pending">pending"#), "{html}");
    assert!(html.contains(selector), "{html}");
    let response = post(&env, &session, rotate, &[("csrf", &session.csrf)]).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let response = post(&env, &session, rotate, &[("csrf", "nope")]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // A read-only key sees the page, not the buttons, and its posts are refused.
    let reader: Value = env
        .admin_post(
            &format!("/v1/admin/tenants/{tenant}/api-keys"),
            json!({"scopes": ["read"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let reader = login(&env, reader["key"].as_str().unwrap()).await;
    let (status, html) = page(&env, &reader, "/console/domains/acme.test").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains("Verify DNS now"), "{html}");
    let response = post(&env, &reader, verify, &[("csrf", &reader.csrf)]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let (status, _) = page(&env, &reader, "/console/domains/other.test").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    env.stop().await;
}

#[tokio::test]
async fn suppressions_are_searched_added_from_pasted_csv_removed_and_exported() {
    let env = TestEnv::start().await;
    let (tenant, key) = env.tenant_with_key(&["send", "read", "admin"]).await;
    let session = login(&env, &key).await;
    let (status, html) = page(&env, &session, "/console/suppressions").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("The list is empty"), "{html}");

    let pasted = "address,reason\nJane@Example.com,manual\nbob@example.com\n";
    let add = "/console/suppressions/add";
    let form = [
        ("csrf", session.csrf.as_str()),
        ("addresses", pasted),
        ("note", "asked, by phone"),
    ];
    let response = post(&env, &session, add, &form[1..]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "no CSRF token");
    let response = post(&env, &session, add, &form).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let listed: Value = env
        .get(&key, "/v1/suppressions")
        .await
        .json()
        .await
        .unwrap();
    let mut addresses: Vec<&str> = listed["suppressions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["address"].as_str().unwrap())
        .collect();
    addresses.sort();
    assert_eq!(addresses, ["bob@example.com", "jane@example.com"]);
    // The API's validation, field by field.
    let bad = [
        ("csrf", session.csrf.as_str()),
        ("addresses", "not-an-address"),
    ];
    let response = post(&env, &session, add, &bad).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(response.text().await.unwrap().contains("addresses[0]"));

    let (_, html) = page(&env, &session, "/console/suppressions?q=JANE%40example.com").await;
    assert!(html.contains("jane@example.com"), "{html}");
    assert!(!html.contains("bob@example.com"), "{html}");
    let (_, html) = page(&env, &session, "/console/suppressions?q=sue%40example.com").await;
    assert!(html.contains("is not on the list"), "{html}");

    let response = get(&env, &session, "/console/suppressions.csv").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = response.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "address,reason,created_at,message_id,note");
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(
        csv.contains("jane@example.com,manual,") && csv.contains(",\"asked, by phone\""),
        "{csv}"
    );

    let remove = "/console/suppressions/remove";
    let form = [
        ("csrf", session.csrf.as_str()),
        ("address", "BOB@example.com"),
    ];
    let response = post(&env, &session, remove, &form).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let response = post(&env, &session, remove, &form).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND, "already removed");
    assert_eq!(
        env.get(&key, "/v1/suppressions/bob@example.com")
            .await
            .status(),
        StatusCode::NOT_FOUND
    );

    // A read-only key reads and exports, but cannot change the list.
    let reader: Value = env
        .admin_post(
            &format!("/v1/admin/tenants/{tenant}/api-keys"),
            json!({"scopes": ["read"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let reader = login(&env, reader["key"].as_str().unwrap()).await;
    let (status, html) = page(&env, &reader, "/console/suppressions").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("jane@example.com") && !html.contains("Remove"),
        "{html}"
    );
    let form = [
        ("csrf", reader.csrf.as_str()),
        ("address", "jane@example.com"),
    ];
    let response = post(&env, &reader, remove, &form).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    env.stop().await;
}

#[tokio::test]
async fn webhooks_show_attempts_and_replay_and_rotate_through_the_api_calls() {
    let env = TestEnv::start_with(
        std::sync::Arc::new(sluice_smtp_server::AcceptAll),
        sluice::run::Roles::ALL,
        |c| c.webhook_allow_private = true,
    )
    .await;
    let (tenant, key) = env.tenant_with_key(&["send", "read", "admin"]).await;
    let domain = env
        .post(&key, "/v1/domains", json!({"name": "acme.test"}))
        .await;
    assert_eq!(domain.status(), StatusCode::CREATED);
    // Nothing listens there: every attempt fails and is recorded.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", closed.local_addr().unwrap());
    drop(closed);
    let created = env.post(&key, "/v1/webhooks", json!({"url": url})).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.unwrap();
    let id = created["id"].as_str().unwrap();
    let old_secret = created["secret"].as_str().unwrap().to_string();
    env.send(&key, simple_message("jane@example.com")).await;
    let session = login(&env, &key).await;

    let (status, html) = page(&env, &session, "/console/webhooks").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains(&format!("/console/webhooks/{id}")), "{html}");
    let path = format!("/console/webhooks/{id}");
    let deadline = Instant::now() + Duration::from_secs(15);
    let html = loop {
        let (status, html) = page(&env, &session, &path).await;
        assert_eq!(status, StatusCode::OK);
        if html.contains(r#"class="mono">evt_"#) {
            break html;
        }
        assert!(Instant::now() < deadline, "no attempt shown: {html}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let event_id = format!(
        "evt_{}",
        html.split(r#"class="mono">evt_"#)
            .nth(1)
            .unwrap()
            .split('<')
            .next()
            .unwrap()
    );

    let replay = format!("{path}/replay");
    let form = [
        ("csrf", session.csrf.as_str()),
        ("event_id", event_id.as_str()),
    ];
    let response = post(&env, &session, &replay, &form[1..]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "no CSRF token");
    let response = post(&env, &session, &replay, &form).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "{event_id}");
    let unknown = [("csrf", session.csrf.as_str()), ("event_id", "evt_1-0")];
    let response = post(&env, &session, &replay, &unknown).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    let rotate = format!("{path}/rotate-secret");
    let response = post(&env, &session, &rotate, &[("csrf", &session.csrf)]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    let new_secret = format!(
        "whsec_{}",
        html.split("whsec_")
            .nth(1)
            .unwrap()
            .split('<')
            .next()
            .unwrap()
    );
    assert_ne!(new_secret, old_secret);
    let view: Value = env
        .get(&key, &format!("/v1/webhooks/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert!(view["previous_secret_expires_at"].is_string(), "{view}");
    // Shown once: the page itself never shows a secret.
    let (_, html) = page(&env, &session, &path).await;
    assert!(!html.contains("whsec_"), "{html}");

    let reader: Value = env
        .admin_post(
            &format!("/v1/admin/tenants/{tenant}/api-keys"),
            json!({"scopes": ["read"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let reader = login(&env, reader["key"].as_str().unwrap()).await;
    let (status, html) = page(&env, &reader, &path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains("Rotate secret"), "{html}");
    let response = post(&env, &reader, &rotate, &[("csrf", &reader.csrf)]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let other = login(&env, &env.ready_tenant().await).await;
    let (status, _) = page(&env, &other, &path).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another tenant's webhook");
    env.stop().await;
}
