//! Tenant isolation: tenant B, with a key holding every scope, can neither read nor
//! act on anything of tenant A's — messages, domains, API keys, suppressions,
//! webhooks, events — and nothing B tries changes A's resources. Every refusal is the
//! same 404 an unknown id gets, so B cannot even learn that A's ids exist.
//!
//! Each route that names a resource is one row of `probes` (built from A's
//! resources), so a new route is one line there (plus, for a new kind of resource,
//! creating one for A in `setup`).
#![allow(clippy::unwrap_used)]

use crate::common;

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use common::{TestEnv, problem, simple_message};

/// What tenant A owns, by id or name.
struct Owned {
    key: String,
    message: String,
    domain: &'static str,
    api_key_id: String,
    suppressed: &'static str,
    webhook: String,
    event: String,
    template: String,
}

/// One request B makes on A's resource: method, path, JSON body.
type Probe = (Method, String, Option<Value>);

/// Every route naming one of A's resources. B must get 404 from each.
fn probes(a: &Owned) -> Vec<Probe> {
    let replay = json!({"event_id": a.event});
    let template = json!({"name": "b", "subject": "Mine now", "text": "B was here"});
    vec![
        (Method::GET, format!("/v1/messages/{}", a.message), None),
        (Method::DELETE, format!("/v1/messages/{}", a.message), None),
        (Method::GET, format!("/v1/domains/{}", a.domain), None),
        (
            Method::POST,
            format!("/v1/domains/{}/verify", a.domain),
            None,
        ),
        (
            Method::POST,
            format!("/v1/domains/{}/dkim/rotate", a.domain),
            None,
        ),
        (
            Method::DELETE,
            format!("/v1/api-keys/{}", a.api_key_id),
            None,
        ),
        (
            Method::GET,
            format!("/v1/suppressions/{}", a.suppressed),
            None,
        ),
        (
            Method::DELETE,
            format!("/v1/suppressions/{}", a.suppressed),
            None,
        ),
        (Method::GET, format!("/v1/webhooks/{}", a.webhook), None),
        (
            Method::GET,
            format!("/v1/webhooks/{}/attempts", a.webhook),
            None,
        ),
        (
            Method::POST,
            format!("/v1/webhooks/{}/rotate-secret", a.webhook),
            None,
        ),
        (
            Method::POST,
            format!("/v1/webhooks/{}/enable", a.webhook),
            None,
        ),
        (
            Method::POST,
            format!("/v1/webhooks/{}/replay", a.webhook),
            Some(replay),
        ),
        (Method::DELETE, format!("/v1/webhooks/{}", a.webhook), None),
        (Method::GET, format!("/v1/templates/{}", a.template), None),
        (
            Method::PUT,
            format!("/v1/templates/{}", a.template),
            Some(template),
        ),
        (
            Method::DELETE,
            format!("/v1/templates/{}", a.template),
            None,
        ),
    ]
}

async fn request(env: &TestEnv, key: &str, (method, path, body): &Probe) -> reqwest::Response {
    let mut request = env
        .http
        .request(method.clone(), env.url(path))
        .bearer_auth(key);
    if let Some(body) = body {
        request = request.json(body);
    }
    request.send().await.unwrap()
}

async fn created(response: reqwest::Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert!(status.is_success(), "{status}: {body}");
    body
}

/// The tenant's feed, newest first (one page is plenty here).
async fn feed(env: &TestEnv, key: &str, query: &str) -> Vec<Value> {
    let response = env.get(key, &format!("/v1/events?limit=1000{query}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let page: Value = response.json().await.unwrap();
    page["events"].as_array().unwrap().clone()
}

async fn setup(env: &TestEnv) -> Owned {
    let key = env.ready_tenant().await;
    let domain = "alpha.test";
    created(env.post(&key, "/v1/domains", json!({"name": domain})).await).await;
    let mut body = simple_message("jane@example.com");
    body["from"] = json!(format!("noreply@{domain}"));
    body["send_at"] = json!(
        (OffsetDateTime::now_utc() + time::Duration::hours(1))
            .format(&Rfc3339)
            .unwrap()
    );
    let message = env.send(&key, body).await;
    let suppressed = "blocked@example.com";
    created(
        env.post(&key, "/v1/suppressions", json!({"address": suppressed}))
            .await,
    )
    .await;
    let webhook = created(
        env.post(
            &key,
            "/v1/webhooks",
            json!({"url": "http://127.0.0.1:9/hook", "events": ["message.delivered"]}),
        )
        .await,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let template = created(
        env.post(
            &key,
            "/v1/templates",
            json!({"name": "a-only", "subject": "Hi {{ name }}", "text": "Hello {{ name }}"}),
        )
        .await,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let keys: Value = env.get(&key, "/v1/api-keys").await.json().await.unwrap();
    let api_key_id = keys["api_keys"][0]["id"].as_str().unwrap().to_string();
    // The fan-out copies the message's first event to A's feed shortly.
    let deadline = Instant::now() + Duration::from_secs(10);
    let event = loop {
        if let Some(event) = feed(env, &key, "").await.first() {
            break event["id"].as_str().unwrap().to_string();
        }
        assert!(Instant::now() < deadline, "A's feed stayed empty");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    Owned {
        key,
        message,
        domain,
        api_key_id,
        suppressed,
        webhook,
        event,
        template,
    }
}

#[tokio::test]
async fn a_tenant_cannot_reach_another_tenants_resources() {
    let env = TestEnv::start_with(
        std::sync::Arc::new(sluice_smtp_server::AcceptAll),
        sluice::run::Roles::ALL,
        |c| c.webhook_allow_private = true,
    )
    .await;
    let a = setup(&env).await;
    // B holds every scope, so no 403 can hide a leak.
    let b = env.ready_tenant().await;
    let before = env.message(&a.key, &a.message).await;

    for probe in probes(&a) {
        let response = request(&env, &b, &probe).await;
        assert_eq!(
            response.status(),
            StatusCode::NOT_FOUND,
            "{} {}",
            probe.0,
            probe.1
        );
        let body = problem(response, StatusCode::NOT_FOUND).await;
        assert!(
            !body.to_string().contains(&a.event),
            "{} {} leaked: {body}",
            probe.0,
            probe.1
        );
    }

    // B can neither send from A's domain nor with A's template, and its lists hold
    // nothing of A's.
    let mut from_a = simple_message("x@example.com");
    from_a["from"] = json!(format!("noreply@{}", a.domain));
    let with_a_template = json!({
        "from": "noreply@acme.test",
        "to": ["x@example.com"],
        "template_id": a.template,
        "template_data": {"name": "x"},
    });
    // Another tenant's domain is not one of B's (422); its template is, to B, one
    // that does not exist (404).
    for (body, field, status) in [
        (from_a, "from", StatusCode::UNPROCESSABLE_ENTITY),
        (with_a_template, "template_id", StatusCode::NOT_FOUND),
    ] {
        let refused = problem(env.post(&b, "/v1/messages", body).await, status).await;
        assert_eq!(common::fields(&refused), [field], "{refused}");
    }
    let owned = [
        a.domain,
        a.suppressed,
        a.webhook.as_str(),
        a.api_key_id.as_str(),
        a.template.as_str(),
    ];
    for path in [
        "/v1/domains",
        "/v1/suppressions",
        "/v1/webhooks",
        "/v1/api-keys",
        "/v1/templates",
    ] {
        let response = env.get(&b, path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let listing = response.text().await.unwrap();
        for owned in owned {
            assert!(!listing.contains(owned), "{path} shows {owned}: {listing}");
        }
    }
    // A's events never appear in B's feed, not even when asked for by message id,
    // and B's own webhook cannot replay them.
    let b_feed = serde_json::to_string(&feed(&env, &b, "").await).unwrap();
    assert!(!b_feed.contains(&a.message), "{b_feed}");
    assert!(!b_feed.contains(&a.event), "{b_feed}");
    assert!(
        feed(&env, &b, &format!("&message_id={}", a.message))
            .await
            .is_empty()
    );
    let b_hook = created(
        env.post(&b, "/v1/webhooks", json!({"url": "http://127.0.0.1:9/b"}))
            .await,
    )
    .await;
    let replay = problem(
        env.post(
            &b,
            &format!("/v1/webhooks/{}/replay", b_hook["id"].as_str().unwrap()),
            json!({"event_id": a.event}),
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(common::fields(&replay), ["event_id"]);

    // Nothing B tried changed A's resources.
    let after = env.message(&a.key, &a.message).await;
    assert_eq!(after["status"], "scheduled");
    assert_eq!(after["events"], before["events"]);
    for path in [
        format!("/v1/domains/{}", a.domain),
        format!("/v1/suppressions/{}", a.suppressed),
        format!("/v1/webhooks/{}", a.webhook),
        format!("/v1/templates/{}", a.template),
    ] {
        assert_eq!(
            env.get(&a.key, &path).await.status(),
            StatusCode::OK,
            "{path}"
        );
    }
    let hook: Value = env
        .get(&a.key, &format!("/v1/webhooks/{}", a.webhook))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(hook["status"], "enabled");
    let template: Value = env
        .get(&a.key, &format!("/v1/templates/{}", a.template))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (template["version"].as_u64(), &template["subject"]),
        (Some(1), &json!("Hi {{ name }}"))
    );
    let domain: Value = env
        .get(&a.key, &format!("/v1/domains/{}", a.domain))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        domain["dkim_keys"].as_array().map(Vec::len),
        Some(1),
        "{domain}"
    );
    let keys: Value = env.get(&a.key, "/v1/api-keys").await.json().await.unwrap();
    assert_eq!(keys["api_keys"][0]["status"], "active");
    env.stop().await;
}
