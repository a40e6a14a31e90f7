//! Sandbox (test-mode) API keys end to end: real Sluice roles, Redis, an SMTP sink
//! that must receive nothing from a test key, and a webhook receiver whose deliveries
//! are checked with the Standard Webhooks reference library.
#![allow(clippy::unwrap_used)]

use crate::common;
use crate::webhooks::{
    Receiver, create_webhook, feed, verify_with_reference_library, webhook_config,
};

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use common::{ADMIN_TOKEN, TestEnv, simple_message};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sluice::run::Roles;
use sluice_smtp_server::AcceptAll;

const WAIT: Duration = Duration::from_secs(30);

/// A key of `tenant` made through the admin API with `body`; returns its JSON.
async fn create_key(env: &TestEnv, tenant: &str, body: Value) -> Value {
    let response = env
        .admin_post(&format!("/v1/admin/tenants/{tenant}/api-keys"), body)
        .await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

/// A tenant with the domain `acme.test`, a live key and a test key (all scopes);
/// returns (tenant id, live key, test key).
async fn tenant_with_both_keys(env: &TestEnv) -> (String, String, String) {
    let (tenant, live) = env.tenant_with_key(&["send", "read", "admin"]).await;
    let test = create_key(
        env,
        &tenant,
        json!({"scopes": ["send", "read", "admin"], "mode": "test", "name": "ci"}),
    )
    .await;
    assert_eq!(test["mode"], "test");
    let test = test["key"].as_str().unwrap().to_string();
    assert!(test.starts_with("sk_test_"), "{test}");
    let domain = env
        .post(&test, "/v1/domains", json!({"name": "acme.test"}))
        .await;
    assert_eq!(domain.status(), StatusCode::CREATED);
    (tenant, live, test)
}

fn event_types(view: &Value) -> Vec<String> {
    view["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect()
}

/// The DKIM selector of acme.test, from its published record's name.
async fn selector(env: &TestEnv, key: &str) -> String {
    let (_, name) = common::domain_dkim_record(env, key, "acme.test").await;
    name.split("._domainkey").next().unwrap().to_string()
}

#[tokio::test]
async fn each_local_part_gets_its_outcome_with_test_events_webhooks_and_nothing_sent() {
    let env = TestEnv::start_with(Arc::new(AcceptAll), Roles::ALL, webhook_config).await;
    let (tenant, _live, test) = tenant_with_both_keys(&env).await;
    let receiver = Receiver::start().await;
    let hook = create_webhook(&env, &test, &receiver.url(), &[]).await;

    // The listing shows each key's mode, to the tenant and to the operator.
    for (key, path) in [
        (test.as_str(), "/v1/api-keys".to_string()),
        (ADMIN_TOKEN, format!("/v1/admin/tenants/{tenant}/api-keys")),
    ] {
        let listing: Value = env.get(key, &path).await.json().await.unwrap();
        let mut modes: Vec<&str> = listing["api_keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["mode"].as_str().unwrap())
            .collect();
        modes.sort();
        assert_eq!(modes, ["live", "test"], "{listing}");
    }

    // Single sends, any domain.
    let single = [
        ("delivered@example.com", "delivered"),
        ("bounced@example.org", "bounced"),
        ("deferred@example.net", "delivered"),
        ("complained@example.com", "delivered"),
        ("suppressed@example.com", "suppressed"),
    ];
    let mut sent: Vec<(String, &str, &str)> = Vec::new();
    for (to, status) in single {
        sent.push((env.send(&test, simple_message(to)).await, to, status));
    }
    // And a batch.
    let batch = env
        .post(
            &test,
            "/v1/messages/batch",
            json!({"messages": [simple_message("Delivered+b@batch.test"), simple_message("bounced+b@batch.test")]}),
        )
        .await;
    assert_eq!(batch.status(), StatusCode::OK);
    let batch: Value = batch.json().await.unwrap();
    let ids: Vec<String> = batch["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    sent.push((ids[0].clone(), "Delivered+b@batch.test", "delivered"));
    sent.push((ids[1].clone(), "bounced+b@batch.test", "bounced"));
    // Counted as accepted, but apart from live mail.
    let metrics = env.get(ADMIN_TOKEN, "/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(r#"sluice_messages_accepted_total{stream="transactional",mode="test"}"#),
        "{metrics}"
    );

    let selector = selector(&env, &test).await;
    for (id, to, status) in &sent {
        let view = env.wait_for_status(&test, id, status, WAIT).await;
        assert_eq!(view["test"], true, "{view:#}");
        let events = view["events"].as_array().unwrap();
        assert!(events.iter().all(|e| e["test"] == true), "{view:#}");
        let types = event_types(&view);
        let expected: &[&str] = match to.split('@').next().unwrap() {
            "deferred" => &["message.accepted", "message.deferred", "message.delivered"],
            "complained" => &[
                "message.accepted",
                "message.delivered",
                "message.complained",
            ],
            "suppressed" => &["message.accepted", "message.suppressed"],
            _ if *status == "bounced" => &["message.accepted", "message.bounced"],
            _ => &["message.accepted", "message.delivered"],
        };
        assert_eq!(types, expected, "{to}: {view:#}");
        let recipient = &view["recipients"][0];
        match *status {
            "delivered" => {
                assert_eq!(recipient["smtp_reply"]["code"], 250, "{view:#}");
                // The note is read back from the signed bytes: the worker built the
                // MIME message and signed it with the domain's key before simulating.
                let delivered = events
                    .iter()
                    .find(|e| e["type"] == "message.delivered")
                    .unwrap();
                let detail = delivered["detail"].as_str().unwrap();
                assert!(detail.contains("DKIM-signed ("), "{detail}");
                assert!(
                    detail.contains(&format!("d=acme.test s={selector})")),
                    "{detail}"
                );
                let bytes: usize = detail
                    .split("DKIM-signed (")
                    .nth(1)
                    .and_then(|rest| rest.split(' ').next())
                    .and_then(|n| n.parse().ok())
                    .unwrap();
                // A signed message holds headers, a 2048-bit signature and the body.
                assert!(bytes > 600, "{detail}");
            }
            "bounced" => {
                assert_eq!(recipient["smtp_reply"]["code"], 550, "{view:#}");
                assert_eq!(recipient["smtp_reply"]["enhanced_code"], "5.1.1");
                let bounce = events
                    .iter()
                    .find(|e| e["type"] == "message.bounced")
                    .unwrap();
                assert_eq!(bounce["bounce"]["type"], "hard");
                assert_eq!(bounce["bounce"]["class"], "bad-mailbox");
            }
            _ => {}
        }
        if to.starts_with("deferred") {
            let deferred = events
                .iter()
                .find(|e| e["type"] == "message.deferred")
                .unwrap();
            assert_eq!(deferred["smtp_reply"]["code"], 451, "{view:#}");
            assert_eq!(recipient["attempts"], 2, "{view:#}");
        }
    }

    // Suppression effects, as the real path has them: the hard bounces and the
    // complaint put their addresses on the list.
    for (address, reason) in [
        ("bounced@example.org", "hard-bounce"),
        ("bounced+b@batch.test", "hard-bounce"),
        ("complained@example.com", "complaint"),
    ] {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let response = env.get(&test, &format!("/v1/suppressions/{address}")).await;
            if response.status() == StatusCode::OK {
                let entry: Value = response.json().await.unwrap();
                assert_eq!(entry["reason"], reason, "{entry}");
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{address} not suppressed"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let not_listed = env
        .get(&test, "/v1/suppressions/suppressed@example.com")
        .await;
    assert_eq!(not_listed.status(), StatusCode::NOT_FOUND);

    // A second test message to a now-suppressed address is suppressed by the real check.
    let again = env.send(&test, simple_message("bounced@example.org")).await;
    let view = env.wait_for_status(&test, &again, "suppressed", WAIT).await;
    assert!(
        view["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["test"] == true)
    );

    // The feed carries the flag (18 events: 2 to 3 per message above).
    let deadline = std::time::Instant::now() + WAIT;
    let events = loop {
        let events = feed(&env, &test, "limit=1000").await;
        if events.len() >= 18 {
            break events;
        }
        assert!(std::time::Instant::now() < deadline, "{events:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(events.iter().all(|e| e["test"] == true), "{events:#?}");

    // Webhooks: every kind of outcome arrives, marked, with valid signatures.
    let wanted: HashSet<&str> = [
        "message.accepted",
        "message.delivered",
        "message.bounced",
        "message.deferred",
        "message.complained",
        "message.suppressed",
    ]
    .into();
    let received = receiver
        .wait_until("every kind of sandbox event", |requests| {
            let kinds: HashSet<String> = requests.iter().map(|r| r.kind()).collect();
            wanted.iter().all(|k| kinds.contains(*k))
        })
        .await;
    for delivery in &received {
        assert_eq!(delivery.json()["data"]["test"], true, "{}", delivery.json());
    }
    verify_with_reference_library(&received, &[hook["secret"].as_str().unwrap()]);

    // Nothing left the machine.
    assert!(
        env.sink.messages().is_empty(),
        "the sink received {} messages from a test key",
        env.sink.messages().len()
    );
    env.stop().await;
}

#[tokio::test]
async fn test_and_live_traffic_have_separate_quotas_and_idempotency() {
    let env = TestEnv::start().await;
    let (tenant, live, test) = tenant_with_both_keys(&env).await;
    let patched = env
        .http
        .patch(env.url(&format!("/v1/admin/tenants/{tenant}")))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"quotas": {"transactional": {"per_day": 2}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), StatusCode::OK);

    // Exhaust the test quota: the live key still sends its own two.
    let mut test_ids = Vec::new();
    for i in 0..2 {
        test_ids.push(
            env.send(&test, simple_message(&format!("t{i}@example.com")))
                .await,
        );
    }
    let refused = env
        .post(&test, "/v1/messages", simple_message("t2@example.com"))
        .await;
    let problem = common::problem(refused, StatusCode::TOO_MANY_REQUESTS).await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("transactional"),
        "{problem}"
    );

    let mut live_ids = Vec::new();
    for i in 0..2 {
        live_ids.push(
            env.send(&live, simple_message(&format!("l{i}@example.com")))
                .await,
        );
    }
    let refused = env
        .post(&live, "/v1/messages", simple_message("l2@example.com"))
        .await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);

    // The live ones reach the sink, unmarked; the test ones settle without it.
    for id in &live_ids {
        let view = env.wait_for_status(&live, id, "delivered", WAIT).await;
        assert!(view.get("test").is_none(), "{view:#}");
        assert!(
            view["events"]
                .as_array()
                .unwrap()
                .iter()
                .all(|e| e.get("test").is_none())
        );
    }
    for id in &test_ids {
        env.wait_for_status(&test, id, "delivered", WAIT).await;
    }
    let missing =
        common::wait_delivered(&env.sink, &live_ids, std::time::Instant::now() + WAIT).await;
    assert!(missing.is_empty(), "{missing:?}");
    let at_sink = common::delivered_counts(&env.sink);
    assert_eq!(at_sink.len(), 2, "{at_sink:?}");
    assert!(test_ids.iter().all(|id| !at_sink.contains_key(id)));

    // The same Idempotency-Key and body on a test key and a live key are two requests.
    let patched = env
        .http
        .patch(env.url(&format!("/v1/admin/tenants/{tenant}")))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"quotas": {"transactional": {"per_day": 100}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), StatusCode::OK);
    let send_with_key = |key: String| {
        let env = &env;
        async move {
            let response = env
                .http
                .post(env.url("/v1/messages"))
                .bearer_auth(key)
                .header("Idempotency-Key", "order-7")
                .json(&simple_message("same@example.com"))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::ACCEPTED);
            let replayed = response.headers().contains_key("idempotent-replayed");
            let body: Value = response.json().await.unwrap();
            (body["id"].as_str().unwrap().to_string(), replayed)
        }
    };
    let (test_first, _) = send_with_key(test.clone()).await;
    let (live_first, replayed) = send_with_key(live.clone()).await;
    assert!(!replayed);
    assert_ne!(
        test_first, live_first,
        "a live send replayed a test message"
    );
    assert_eq!(send_with_key(test.clone()).await, (test_first, true));

    // A cancelled test message's cancellation event is marked too.
    let mut scheduled = simple_message("later@example.com");
    let send_at = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    scheduled["send_at"] = json!(
        send_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    );
    let id = env.send(&test, scheduled).await;
    let cancelled = env
        .http
        .delete(env.url(&format!("/v1/messages/{id}")))
        .bearer_auth(&test)
        .send()
        .await
        .unwrap();
    assert_eq!(cancelled.status(), StatusCode::OK);
    let view: Value = cancelled.json().await.unwrap();
    assert_eq!(
        event_types(&view),
        ["message.scheduled", "message.cancelled"]
    );
    assert!(
        view["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["test"] == true),
        "{view:#}"
    );
    env.stop().await;
}

#[tokio::test]
async fn an_unknown_mode_is_a_422_naming_the_field() {
    let env = TestEnv::start_with(Arc::new(AcceptAll), Roles::API, |_| {}).await;
    let (tenant, _) = env.tenant_with_key(&["send"]).await;
    let response = env
        .admin_post(
            &format!("/v1/admin/tenants/{tenant}/api-keys"),
            json!({"scopes": ["send"], "mode": "sandbox"}),
        )
        .await;
    let problem = common::problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(common::fields(&problem), ["mode"]);
    let live = create_key(&env, &tenant, json!({"scopes": ["send"]})).await;
    assert_eq!(live["mode"], "live");
    assert!(!live["key"].as_str().unwrap().starts_with("sk_test_"));
    env.stop().await;
}
