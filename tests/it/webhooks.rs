//! Events to tenants end to end: real Sluice roles, a real SMTP sink, and a real HTTP
//! receiver on loopback that records every request; every signature it received is
//! checked with the Standard Webhooks reference library (Python `standardwebhooks`).
#![allow(clippy::unwrap_used)]

use crate::common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use common::{TestEnv, simple_message};
use reqwest::StatusCode as HttpStatus;
use serde_json::{Value, json};
use sluice::config::Config;
use sluice::run::Roles;
use sluice_smtp_server::CueByLocalPart;

/// One request as the receiver got it.
#[derive(Clone, Debug)]
pub(crate) struct Received {
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
    /// The status the receiver answered.
    answered: u16,
}

impl Received {
    pub(crate) fn id(&self) -> &str {
        &self.headers["webhook-id"]
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    pub(crate) fn kind(&self) -> String {
        self.json()["type"].as_str().unwrap().to_string()
    }
}

#[derive(Default)]
struct ReceiverState {
    requests: Mutex<Vec<Received>>,
    /// What to answer: 200 (up) or e.g. 503 (down).
    status: AtomicU16,
    /// How long to take over each answer.
    delay_ms: AtomicU64,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

/// A small real HTTP server that records every request and answers per its script.
pub(crate) struct Receiver {
    addr: SocketAddr,
    state: Arc<ReceiverState>,
}

impl Receiver {
    pub(crate) async fn start() -> Self {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), 200).await
    }

    async fn start_on(addr: SocketAddr, status: u16) -> Self {
        let state = Arc::new(ReceiverState::default());
        state.status.store(status, Ordering::SeqCst);
        let app = axum::Router::new()
            .fallback(record)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { addr, state }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    fn answer(&self, status: u16) {
        self.state.status.store(status, Ordering::SeqCst);
    }

    pub(crate) fn requests(&self) -> Vec<Received> {
        self.state.requests.lock().unwrap().clone()
    }

    /// Requests answered 2xx.
    fn delivered(&self) -> Vec<Received> {
        self.requests()
            .into_iter()
            .filter(|r| (200..300).contains(&r.answered))
            .collect()
    }

    pub(crate) async fn wait_until(
        &self,
        what: &str,
        done: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let requests = self.requests();
            if done(&requests) {
                return requests;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; received {:#?}",
                requests
                    .iter()
                    .map(|r| (r.id().to_string(), r.kind(), r.answered))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn record(
    State(state): State<Arc<ReceiverState>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    state.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let delay = state.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    state.in_flight.fetch_sub(1, Ordering::SeqCst);
    let answered = state.status.load(Ordering::SeqCst);
    let headers = headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_string(),
                value.to_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    state.requests.lock().unwrap().push(Received {
        headers,
        body: body.to_vec(),
        answered,
    });
    StatusCode::from_u16(answered).unwrap()
}

/// Verifies every delivery with the Python reference library, with each secret on
/// its own; panics naming the failures.
pub(crate) fn verify_with_reference_library(deliveries: &[Received], secrets: &[&str]) {
    let lines = reference_library(deliveries, secrets);
    let failures: Vec<String> = lines
        .iter()
        .zip(deliveries)
        .filter(|(line, _)| *line != "PASS")
        .map(|(line, d)| format!("{}: {line}", d.id()))
        .collect();
    assert!(
        failures.is_empty(),
        "signatures that do not verify: {failures:#?}"
    );
}

/// The verifier's verdict per delivery (`PASS` or `FAIL: …`).
fn reference_library(deliveries: &[Received], secrets: &[&str]) -> Vec<String> {
    assert!(!deliveries.is_empty());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deliveries.json");
    let items: Vec<Value> = deliveries
        .iter()
        .map(|d| {
            json!({
                "headers": d.headers,
                "body_b64": base64::engine::general_purpose::STANDARD.encode(&d.body),
            })
        })
        .collect();
    std::fs::write(&path, serde_json::to_vec(&items).unwrap()).unwrap();
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/support/webhook_verify.py");
    let python = std::env::var("SLUICE_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let output = std::process::Command::new(&python)
        .arg(script)
        .arg(&path)
        .args(secrets)
        .output()
        .unwrap_or_else(|e| panic!("running {python}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        !stdout.starts_with("ERROR"),
        "the Standard Webhooks verifier could not run: {stdout} {} (install with `pip install standardwebhooks`, or set SLUICE_TEST_PYTHON)",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<String> = stdout.lines().map(str::to_string).collect();
    assert_eq!(lines.len(), deliveries.len(), "{stdout}");
    assert_eq!(
        output.status.success(),
        lines.iter().all(|l| l == "PASS"),
        "{stdout}"
    );
    lines
}

/// Fast retries, nothing disabled unless a test asks, loopback endpoints allowed.
pub(crate) fn webhook_config(c: &mut Config) {
    c.webhook_allow_private = true;
    c.webhooks.retry_schedule = [
        200, 300, 500, 500, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000,
    ]
    .map(Duration::from_millis)
    .to_vec();
    c.webhooks.disable_after = Duration::from_secs(3600);
    c.webhooks.timeout = Duration::from_secs(2);
}

async fn start_env(tweak: impl FnOnce(&mut Config)) -> TestEnv {
    TestEnv::start_with(Arc::new(CueByLocalPart), Roles::ALL, |c| {
        webhook_config(c);
        tweak(c);
    })
    .await
}

/// Registers a webhook; returns its JSON (with `id` and `secret`).
pub(crate) async fn create_webhook(env: &TestEnv, key: &str, url: &str, events: &[&str]) -> Value {
    let response = env
        .post(key, "/v1/webhooks", json!({"url": url, "events": events}))
        .await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, HttpStatus::CREATED, "{body}");
    body
}

/// The tenant's whole feed, newest first, following cursors.
pub(crate) async fn feed(env: &TestEnv, key: &str, query: &str) -> Vec<Value> {
    let mut events = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/v1/events?{query}");
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let response = env.get(key, &path).await;
        assert_eq!(response.status(), HttpStatus::OK);
        let page: Value = response.json().await.unwrap();
        events.extend(page["events"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return events,
        }
    }
}

async fn wait_for_feed(env: &TestEnv, key: &str, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let events = feed(env, key, "limit=1000").await;
        if events.len() >= count {
            return events;
        }
        assert!(
            Instant::now() < deadline,
            "the feed has {} of {count} events: {events:#?}",
            events.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn events_arrive_signed_with_their_payloads_and_filters_hold() {
    let env = start_env(|_| {}).await;
    let key = env.ready_tenant().await;
    let all = Receiver::start().await;
    let bounces_only = Receiver::start().await;
    let hook = create_webhook(&env, &key, &all.url(), &[]).await;
    let secret = hook["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"));
    assert!(hook["id"].as_str().unwrap().starts_with("wh_"));
    assert_eq!(hook["status"], "enabled");
    let filtered = create_webhook(&env, &key, &bounces_only.url(), &["message.bounced"]).await;
    assert_eq!(filtered["events"], json!(["message.bounced"]));

    let mut ok = simple_message("ok@example.com");
    ok["tags"] = json!(["welcome"]);
    ok["metadata"] = json!({"user": "42"});
    let ok_id = env.send(&key, ok).await;
    let bounce_id = env.send(&key, simple_message("bounce@example.com")).await;

    all.wait_until("accepted ×2, delivered, bounced", |r| r.len() >= 4)
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let received = all.requests();
    assert_eq!(received.len(), 4, "{received:#?}");
    let by_kind = |kind: &str, message: &str| {
        received
            .iter()
            .find(|r| r.kind() == kind && r.json()["data"]["message_id"] == message)
            .unwrap_or_else(|| panic!("no {kind} for {message}"))
            .clone()
    };
    let delivered = by_kind("message.delivered", &ok_id);
    let body = delivered.json();
    assert_eq!(body["data"]["recipient"], "ok@example.com");
    assert_eq!(body["data"]["tags"], json!(["welcome"]));
    assert_eq!(body["data"]["metadata"], json!({"user": "42"}));
    assert_eq!(body["data"]["smtp_reply"]["code"], 250);
    assert_eq!(body["data"]["event_id"], delivered.id());
    assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));
    let bounced = by_kind("message.bounced", &bounce_id).json();
    assert_eq!(bounced["data"]["recipient"], "bounce@example.com");
    assert_eq!(bounced["data"]["bounce"]["type"], "hard");
    assert_eq!(bounced["data"]["bounce"]["class"], "bad-mailbox");
    assert_eq!(bounced["data"]["smtp_reply"]["code"], 550);
    by_kind("message.accepted", &ok_id);
    by_kind("message.accepted", &bounce_id);

    for request in &received {
        assert_eq!(request.headers["content-type"], "application/json");
        assert!(
            request.headers["user-agent"].starts_with("Sluice-Webhooks/"),
            "{:?}",
            request.headers
        );
        assert!(request.id().starts_with("evt_"));
        let timestamp: i64 = request.headers["webhook-timestamp"].parse().unwrap();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        assert!((now - timestamp).abs() < 60, "{timestamp} vs {now}");
        assert_eq!(request.headers["webhook-signature"].split(' ').count(), 1);
    }
    verify_with_reference_library(&received, &[&secret]);
    // The verifier is not vacuous: another secret, or a changed body, fails.
    let stranger = reference_library(&received, &["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]);
    assert!(
        stranger.iter().all(|l| l.starts_with("FAIL")),
        "{stranger:?}"
    );
    let mut tampered = delivered.clone();
    tampered.body = String::from_utf8(tampered.body)
        .unwrap()
        .replace("\"ok@example.com\"", "\"ok@example.org\"")
        .into_bytes();
    assert_ne!(tampered.body, delivered.body);
    let verdict = reference_library(&[tampered], &[&secret]);
    assert!(verdict[0].starts_with("FAIL"), "{verdict:?}");

    // The webhook ids are the feed's event ids.
    let events = wait_for_feed(&env, &key, 4).await;
    let feed_ids: HashSet<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    let webhook_ids: HashSet<&str> = received.iter().map(|r| r.id()).collect();
    assert_eq!(feed_ids, webhook_ids);

    // The filtered endpoint got the bounce only.
    bounces_only
        .wait_until("the bounce", |r| !r.is_empty())
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let only = bounces_only.requests();
    assert_eq!(only.len(), 1, "{only:#?}");
    assert_eq!(only[0].kind(), "message.bounced");
    verify_with_reference_library(&only, &[filtered["secret"].as_str().unwrap()]);

    // Every attempt is listed, newest first.
    let id = hook["id"].as_str().unwrap();
    let attempts: Value = env
        .get(&key, &format!("/v1/webhooks/{id}/attempts"))
        .await
        .json()
        .await
        .unwrap();
    let attempts = attempts["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 4, "{attempts:#?}");
    for attempt in attempts {
        assert_eq!(attempt["outcome"], "delivered");
        assert_eq!(attempt["http_status"], 200);
        assert_eq!(attempt["attempt"], 1);
        assert!(attempt["duration_ms"].is_u64());
        assert!(webhook_ids.contains(attempt["event_id"].as_str().unwrap()));
    }
    let page: Value = env
        .get(&key, &format!("/v1/webhooks/{id}/attempts?limit=3"))
        .await
        .json()
        .await
        .unwrap();
    let cursor = page["next_cursor"].as_str().unwrap();
    let rest: Value = env
        .get(
            &key,
            &format!("/v1/webhooks/{id}/attempts?limit=3&cursor={cursor}"),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rest["attempts"].as_array().unwrap().len(), 1);
    assert!(rest.get("next_cursor").is_none());

    // Listing shows both endpoints without secrets.
    let list: Value = env.get(&key, "/v1/webhooks").await.json().await.unwrap();
    let list = list["webhooks"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert!(list.iter().all(|w| w.get("secret").is_none()));
    env.stop().await;
}

#[tokio::test]
async fn a_receiver_down_for_a_while_still_gets_every_event_once() {
    let env = start_env(|_| {}).await;
    let key = env.ready_tenant().await;
    // Nothing listens on the port at first: connections are refused.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let hook = create_webhook(&env, &key, &format!("http://{addr}/hook"), &[]).await;
    let secret = hook["secret"].as_str().unwrap();
    let id = hook["id"].as_str().unwrap();
    let mut messages = Vec::new();
    for i in 0..5 {
        messages.push(
            env.send(&key, simple_message(&format!("user{i}@example.com")))
                .await,
        );
    }
    let events = wait_for_feed(&env, &key, 10).await;
    tokio::time::sleep(Duration::from_millis(800)).await;

    // Then it answers 503 for a while, then 200.
    let receiver = Receiver::start_on(addr, 503).await;
    receiver
        .wait_until("some 503s", |r| {
            r.iter().filter(|r| r.answered == 503).count() >= 3
        })
        .await;
    receiver.answer(200);
    let feed_ids: HashSet<String> = events
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    receiver
        .wait_until("every event delivered", |requests| {
            let ok: HashSet<&str> = requests
                .iter()
                .filter(|r| r.answered == 200)
                .map(|r| r.id())
                .collect();
            ok.len() == feed_ids.len()
        })
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let delivered = receiver.delivered();
    let mut per_id: HashMap<&str, usize> = HashMap::new();
    for request in &delivered {
        *per_id.entry(request.id()).or_default() += 1;
    }
    let ids: HashSet<String> = per_id.keys().map(|s| s.to_string()).collect();
    assert_eq!(
        ids, feed_ids,
        "the set of delivered ids is the set of events"
    );
    // At-least-once allows repeats after a crash; with none, each id succeeds once.
    assert!(per_id.values().all(|n| *n == 1), "{per_id:?}");
    verify_with_reference_library(&receiver.requests(), &[secret]);

    // The log shows the refused connections, the 503s and the successes.
    let attempts: Value = env
        .get(&key, &format!("/v1/webhooks/{id}/attempts?limit=1000"))
        .await
        .json()
        .await
        .unwrap();
    let attempts = attempts["attempts"].as_array().unwrap();
    let refused = attempts
        .iter()
        .filter(|a| a["http_status"].is_null() && a["outcome"] == "retrying")
        .count();
    let unavailable = attempts.iter().filter(|a| a["http_status"] == 503).count();
    let succeeded = attempts
        .iter()
        .filter(|a| a["outcome"] == "delivered")
        .count();
    assert!(refused >= 10, "{attempts:#?}");
    assert!(unavailable >= 3, "{attempts:#?}");
    assert_eq!(succeeded, 10);
    let refusal = attempts
        .iter()
        .find(|a| a["http_status"].is_null())
        .unwrap();
    assert!(refusal["error"].as_str().unwrap().len() > 5, "{refusal}");
    assert!(refusal["next_retry_at"].is_string());
    assert!(
        attempts
            .iter()
            .filter(|a| a["outcome"] == "delivered")
            .all(|a| a["attempt"].as_u64().unwrap() > 1)
    );
    let view: Value = env
        .get(&key, &format!("/v1/webhooks/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["status"], "enabled");
    assert!(view.get("failing_since").is_none(), "{view}");
    env.stop().await;
}

#[tokio::test]
async fn rotation_signs_with_both_secrets_and_replay_keeps_the_webhook_id() {
    let env = start_env(|_| {}).await;
    let key = env.ready_tenant().await;
    let receiver = Receiver::start().await;
    let hook = create_webhook(&env, &key, &receiver.url(), &[]).await;
    let id = hook["id"].as_str().unwrap();
    let old = hook["secret"].as_str().unwrap().to_string();
    env.send(&key, simple_message("first@example.com")).await;
    let before = receiver.wait_until("two events", |r| r.len() >= 2).await;
    verify_with_reference_library(&before, &[&old]);

    let rotated = env
        .post(&key, &format!("/v1/webhooks/{id}/rotate-secret"), json!({}))
        .await;
    assert_eq!(rotated.status(), HttpStatus::OK);
    let rotated: Value = rotated.json().await.unwrap();
    let new = rotated["secret"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    assert!(
        rotated["previous_secret_expires_at"].is_string(),
        "{rotated}"
    );

    env.send(&key, simple_message("second@example.com")).await;
    let all = receiver.wait_until("four events", |r| r.len() >= 4).await;
    let after: Vec<Received> = all[2..].to_vec();
    for request in &after {
        assert_eq!(request.headers["webhook-signature"].split(' ').count(), 2);
    }
    // Either secret alone verifies every delivery made during the grace period.
    verify_with_reference_library(&after, &[&old]);
    verify_with_reference_library(&after, &[&new]);

    // Replay: the same event, the same webhook-id and body, signed anew.
    let original = before[0].clone();
    let replay = env
        .post(
            &key,
            &format!("/v1/webhooks/{id}/replay"),
            json!({"event_id": original.id()}),
        )
        .await;
    assert_eq!(replay.status(), HttpStatus::ACCEPTED);
    let replayed = receiver
        .wait_until("the replay", |r| {
            r.iter().filter(|x| x.id() == original.id()).count() == 2
        })
        .await;
    let again = replayed
        .iter()
        .rfind(|r| r.id() == original.id())
        .unwrap()
        .clone();
    assert_eq!(again.body, original.body);
    verify_with_reference_library(&[again], &[&old]);

    let unknown = env
        .post(
            &key,
            &format!("/v1/webhooks/{id}/replay"),
            json!({"event_id": "evt_1-0"}),
        )
        .await;
    assert_eq!(unknown.status(), HttpStatus::NOT_FOUND);
    let problem: Value = unknown.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "event_id");
    let missing = env
        .post(
            &key,
            "/v1/webhooks/wh_01jdx8k3m5n6p7q8r9s0t1v2w3/replay",
            json!({"event_id": original.id()}),
        )
        .await;
    assert_eq!(missing.status(), HttpStatus::NOT_FOUND);
    env.stop().await;
}

#[tokio::test]
async fn an_endpoint_failing_too_long_is_disabled_with_an_event() {
    let env = start_env(|c| {
        c.webhooks.retry_schedule = vec![Duration::from_millis(300); 30];
        c.webhooks.disable_after = Duration::from_secs(2);
    })
    .await;
    let key = env.ready_tenant().await;
    let failing = Receiver::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), 503).await;
    let watcher = Receiver::start().await;
    let hook = create_webhook(&env, &key, &failing.url(), &[]).await;
    let id = hook["id"].as_str().unwrap();
    let watch = create_webhook(&env, &key, &watcher.url(), &["webhook.disabled"]).await;
    env.send(&key, simple_message("someone@example.com")).await;

    let notice = watcher
        .wait_until("webhook.disabled", |r| !r.is_empty())
        .await;
    let body = notice[0].json();
    assert_eq!(body["type"], "webhook.disabled");
    assert!(
        body["data"]["detail"].as_str().unwrap().contains(id),
        "{body}"
    );
    assert!(body["data"].get("message_id").is_none());
    verify_with_reference_library(&notice, &[watch["secret"].as_str().unwrap()]);

    let view: Value = env
        .get(&key, &format!("/v1/webhooks/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["status"], "disabled");
    assert!(view["disabled_reason"].is_string(), "{view}");
    let feed = feed(&env, &key, "type=webhook.disabled").await;
    assert_eq!(feed.len(), 1);

    // Nothing more is sent to it while disabled.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let attempts_then = failing.requests().len();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(failing.requests().len(), attempts_then);

    // Enabled again, it receives new events.
    failing.answer(200);
    let enabled = env
        .post(&key, &format!("/v1/webhooks/{id}/enable"), json!({}))
        .await;
    assert_eq!(enabled.status(), HttpStatus::OK);
    let enabled: Value = enabled.json().await.unwrap();
    assert_eq!(enabled["status"], "enabled");
    assert!(enabled.get("disabled_reason").is_none());
    let message = env.send(&key, simple_message("later@example.com")).await;
    failing
        .wait_until("the new message's events", |r| {
            r.iter()
                .filter(|x| x.answered == 200 && x.json()["data"]["message_id"] == message)
                .count()
                == 2
        })
        .await;
    env.stop().await;
}

#[tokio::test]
async fn private_targets_and_bad_fields_are_refused() {
    let env = start_env(|c| c.webhook_allow_private = false).await;
    let key = env.ready_tenant().await;
    for url in [
        "http://127.0.0.1:9000/hook",
        "http://localhost/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://10.1.2.3/",
        "ftp://example.com/hook",
        "not a url",
    ] {
        let response = env.post(&key, "/v1/webhooks", json!({"url": url})).await;
        assert_eq!(response.status(), HttpStatus::UNPROCESSABLE_ENTITY, "{url}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["errors"][0]["field"], "url", "{problem}");
    }
    let response = env
        .post(
            &key,
            "/v1/webhooks",
            json!({"url": "https://93.184.216.34/hook", "events": ["message.delivered", "message.nope"]}),
        )
        .await;
    assert_eq!(response.status(), HttpStatus::UNPROCESSABLE_ENTITY);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "events[1]", "{problem}");

    // A public address is fine; then the CRUD routes.
    let hook = create_webhook(
        &env,
        &key,
        "https://93.184.216.34/hook",
        &["message.delivered"],
    )
    .await;
    let id = hook["id"].as_str().unwrap();
    let got = env.get(&key, &format!("/v1/webhooks/{id}")).await;
    assert_eq!(got.status(), HttpStatus::OK);
    let got: Value = got.json().await.unwrap();
    assert_eq!(got["url"], "https://93.184.216.34/hook");
    assert!(got.get("secret").is_none());
    let deleted = env
        .http
        .delete(env.url(&format!("/v1/webhooks/{id}")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), HttpStatus::NO_CONTENT);
    for path in [
        format!("/v1/webhooks/{id}"),
        format!("/v1/webhooks/{id}/attempts"),
        "/v1/webhooks/not-an-id".to_string(),
    ] {
        let response = env.get(&key, &path).await;
        assert_eq!(response.status(), HttpStatus::NOT_FOUND, "{path}");
    }

    // Read-only keys cannot manage webhooks.
    let (_, reader) = env.tenant_with_key(&["read"]).await;
    let response = env
        .post(
            &reader,
            "/v1/webhooks",
            json!({"url": "https://93.184.216.34/"}),
        )
        .await;
    assert_eq!(response.status(), HttpStatus::FORBIDDEN);
    env.stop().await;
}

#[tokio::test]
async fn the_event_feed_filters_and_pages() {
    let env = start_env(|_| {}).await;
    let key = env.ready_tenant().await;
    let mut first = simple_message("one@example.com");
    first["tags"] = json!(["a"]);
    let mut second = simple_message("two@example.com");
    second["tags"] = json!(["b"]);
    let first = env.send(&key, first).await;
    let second = env.send(&key, second).await;
    env.send(&key, simple_message("bounce@example.com")).await;
    let all = wait_for_feed(&env, &key, 6).await;
    assert_eq!(all.len(), 6, "{all:#?}");
    // Newest first.
    let ids: Vec<&str> = all.iter().map(|e| e["id"].as_str().unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.sort_by_key(|id| {
        let (ms, seq) = id.trim_start_matches("evt_").split_once('-').unwrap();
        (ms.parse::<u64>().unwrap(), seq.parse::<u64>().unwrap())
    });
    sorted.reverse();
    assert_eq!(ids, sorted);

    let bounced = feed(&env, &key, "type=message.bounced").await;
    assert_eq!(bounced.len(), 1);
    assert_eq!(bounced[0]["recipient"], "bounce@example.com");
    assert_eq!(bounced[0]["bounce"]["type"], "hard");
    let two = feed(&env, &key, "type=message.delivered,message.bounced").await;
    assert_eq!(two.len(), 3);
    let recipient = feed(&env, &key, "recipient=ONE@example.com").await;
    assert!(!recipient.is_empty());
    assert!(
        recipient
            .iter()
            .all(|e| e["recipient"] == "one@example.com")
    );
    let tagged = feed(&env, &key, "tag=a").await;
    assert_eq!(tagged.len(), 2);
    assert!(tagged.iter().all(|e| e["message_id"] == first));
    let by_message = feed(&env, &key, &format!("message_id={second}")).await;
    assert_eq!(by_message.len(), 2);

    // Pages of 2 come back in the same order as one page.
    let paged = feed(&env, &key, "limit=2").await;
    assert_eq!(paged, all);
    let page: Value = env
        .get(&key, "/v1/events?limit=2")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["events"].as_array().unwrap().len(), 2);
    assert!(page["next_cursor"].is_string());

    let future = feed(&env, &key, "since=2999-01-01T00:00:00Z").await;
    assert!(future.is_empty());
    let past = feed(&env, &key, "until=2001-01-01T00:00:00Z").await;
    assert!(past.is_empty());
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let window = feed(
        &env,
        &key,
        &format!("since=2001-01-01T00:00:00Z&until={now}"),
    )
    .await;
    assert_eq!(window.len(), 6);

    for (query, field) in [
        ("type=message.nope", "type"),
        ("type=delivered", "type"),
        ("since=yesterday", "since"),
        ("until=2026-13-01T00:00:00Z", "until"),
        ("message_id=nope", "message_id"),
        ("cursor=(0-0", "cursor"),
        ("limit=0", "limit"),
        ("limit=many", "limit"),
    ] {
        let response = env.get(&key, &format!("/v1/events?{query}")).await;
        assert_eq!(
            response.status(),
            HttpStatus::UNPROCESSABLE_ENTITY,
            "{query}"
        );
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["errors"][0]["field"], field, "{query}: {problem}");
    }

    // Another tenant sees none of it.
    let (_, other) = env.tenant_with_key(&["read"]).await;
    assert!(feed(&env, &other, "limit=10").await.is_empty());
    env.stop().await;
}

#[tokio::test]
async fn several_processes_share_the_work_without_sending_twice() {
    let env = start_env(|_| {}).await;
    let worker_only = Roles::WORKER;
    let second = env.start_roles(worker_only, |_| {}).await;
    let third = env.start_roles(worker_only, |_| {}).await;
    let key = env.ready_tenant().await;
    let receiver = Receiver::start().await;
    receiver.state.delay_ms.store(40, Ordering::SeqCst);
    let hook = create_webhook(&env, &key, &receiver.url(), &[]).await;
    for i in 0..20 {
        env.send(&key, simple_message(&format!("user{i}@example.com")))
            .await;
    }
    let events = wait_for_feed(&env, &key, 40).await;
    let feed_ids: HashSet<String> = events
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    receiver
        .wait_until("40 deliveries", |r| r.len() >= feed_ids.len())
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let received = receiver.requests();
    let ids: Vec<&str> = received.iter().map(|r| r.id()).collect();
    let unique: HashSet<String> = ids.iter().map(|s| s.to_string()).collect();
    assert_eq!(unique, feed_ids);
    assert_eq!(ids.len(), unique.len(), "an event was sent twice");
    // Three senders, one cap per endpoint across all of them.
    let max = receiver.state.max_in_flight.load(Ordering::SeqCst);
    assert!((2..=8).contains(&max), "max in flight {max}");
    verify_with_reference_library(&received, &[hook["secret"].as_str().unwrap()]);
    second.stop().await.unwrap();
    third.stop().await.unwrap();
    env.stop().await;
}
