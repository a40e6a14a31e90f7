//! The suppression list end to end: managed over the HTTP API, honoured by the
//! worker (a suppressed recipient is never offered to the receiving server, the
//! others still get the message), separate per tenant, and fed by hard bounces.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use sluice::run::Roles;
use sluice_smtp_server::{CueByLocalPart, Peer, Reply, SinkBehavior};

use common::{TestEnv, fields, problem, simple_message};

/// [`CueByLocalPart`], remembering every address offered in a RCPT command.
#[derive(Default)]
struct RecordRcpt {
    offered: Mutex<Vec<String>>,
}

impl SinkBehavior for RecordRcpt {
    fn rcpt_to(&self, peer: &Peer, rcpt: &str) -> Reply {
        self.offered.lock().unwrap().push(rcpt.to_lowercase());
        CueByLocalPart.rcpt_to(peer, rcpt)
    }
}

async fn delete(env: &TestEnv, key: &str, path: &str) -> Response {
    env.http
        .delete(env.url(path))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
}

async fn json_of(response: Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status);
    response.json().await.unwrap()
}

fn recipient<'a>(view: &'a Value, address: &str) -> &'a Value {
    view["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["address"] == address)
        .unwrap_or_else(|| panic!("no recipient {address} in {view:#}"))
}

fn events_of<'a>(view: &'a Value, kind: &str) -> Vec<&'a Value> {
    view["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == kind)
        .collect()
}

#[tokio::test]
async fn a_suppressed_recipient_is_skipped_and_the_others_still_get_the_message() {
    let sink = Arc::new(RecordRcpt::default());
    let env = TestEnv::start_with(sink.clone(), Roles::ALL, |_| {}).await;
    let key = env.ready_tenant().await;

    let added = json_of(
        env.post(
            &key,
            "/v1/suppressions",
            json!({"address": "Blocked@Example.com", "note": "asked us to stop"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let entry = &added["suppressions"][0];
    assert_eq!(entry["added"], true);
    assert_eq!(entry["address"], "blocked@example.com");
    assert_eq!(entry["reason"], "manual");
    assert_eq!(entry["note"], "asked us to stop");

    let mut body = simple_message("ok@example.com");
    body["cc"] = json!(["BLOCKED@example.com"]);
    let id = env.send(&key, body).await;
    let view = env
        .wait_for(&key, &id, Duration::from_secs(10), |v| {
            v["status"] != "queued"
        })
        .await;
    assert_eq!(view["status"], "delivered", "{view:#}");
    assert_eq!(recipient(&view, "ok@example.com")["status"], "delivered");
    let blocked = recipient(&view, "BLOCKED@example.com");
    assert_eq!(blocked["status"], "suppressed");
    assert_eq!(blocked["attempts"], 0);
    let suppressed = events_of(&view, "message.suppressed");
    assert_eq!(suppressed.len(), 1, "{view:#}");
    assert_eq!(suppressed[0]["recipient"], "BLOCKED@example.com");
    assert!(
        suppressed[0]["detail"].as_str().unwrap().contains("manual"),
        "{view:#}"
    );
    let received = env.sink.messages();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].rcpt_to, ["ok@example.com"]);
    assert_eq!(*sink.offered.lock().unwrap(), ["ok@example.com"]);

    // Only suppressed recipients: nothing is sent and the message says so.
    let only = env.send(&key, simple_message("blocked@example.com")).await;
    let view = env
        .wait_for_status(&key, &only, "suppressed", Duration::from_secs(10))
        .await;
    assert_eq!(view["attempts"], 0);
    assert_eq!(events_of(&view, "message.suppressed").len(), 1);
    assert_eq!(env.sink.count(), 1);
    assert_eq!(sink.offered.lock().unwrap().len(), 1);
    env.stop().await;
}

#[tokio::test]
async fn the_list_pages_and_a_deleted_address_gets_mail_again() {
    let env = TestEnv::start().await;
    let key = env.ready_tenant().await;
    let batch: Vec<String> = (0..5).map(|i| format!("user{i}@example.com")).collect();
    let added = json_of(
        env.post(&key, "/v1/suppressions", json!({"addresses": batch}))
            .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(added["suppressions"].as_array().unwrap().len(), 5);
    // The order is by the millisecond an entry was added (ties by address): make
    // sure the single entry below is in a later millisecond than the batch.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let single = env
        .post(
            &key,
            "/v1/suppressions",
            json!({"address": "jane@example.com"}),
        )
        .await;
    assert_eq!(single.status(), StatusCode::CREATED);
    // Adding again changes nothing and says so.
    let again = json_of(
        env.post(
            &key,
            "/v1/suppressions",
            json!({"address": "JANE@example.com"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(again["suppressions"][0]["added"], false);
    // `address` with `addresses`: both are added (`address` first).
    let both = json_of(
        env.post(
            &key,
            "/v1/suppressions",
            json!({"address": "both1@example.com", "addresses": ["both2@example.com"]}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let listed: Vec<&str> = both["suppressions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["address"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["both1@example.com", "both2@example.com"]);
    for address in listed {
        let deleted = delete(&env, &key, &format!("/v1/suppressions/{address}")).await;
        assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    }
    // An empty `cursor=` is the first page.
    let first = json_of(
        env.get(&key, "/v1/suppressions?cursor=&limit=2").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        first["suppressions"].as_array().unwrap().len(),
        2,
        "{first}"
    );

    let mut seen = Vec::new();
    let mut path = "/v1/suppressions?limit=2".to_string();
    let mut pages = 0;
    loop {
        let page = json_of(env.get(&key, &path).await, StatusCode::OK).await;
        pages += 1;
        for entry in page["suppressions"].as_array().unwrap() {
            seen.push(entry["address"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/suppressions?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 6, "{seen:?}");
    assert_eq!(seen[0], "jane@example.com", "newest first");
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 6);

    let manual = json_of(
        env.get(&key, "/v1/suppressions?reason=manual").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(manual["suppressions"].as_array().unwrap().len(), 6);
    assert!(manual.get("next_cursor").is_none());
    let complaints = json_of(
        env.get(&key, "/v1/suppressions?reason=complaint").await,
        StatusCode::OK,
    )
    .await;
    assert!(complaints["suppressions"].as_array().unwrap().is_empty());

    let one = json_of(
        env.get(&key, "/v1/suppressions/Jane@Example.com").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(one["address"], "jane@example.com");
    assert_eq!(one["reason"], "manual");

    let removed = delete(&env, &key, "/v1/suppressions/jane@example.com").await;
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    problem(
        env.get(&key, "/v1/suppressions/jane@example.com").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        delete(&env, &key, "/v1/suppressions/jane@example.com").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let listed = json_of(env.get(&key, "/v1/suppressions").await, StatusCode::OK).await;
    assert_eq!(listed["suppressions"].as_array().unwrap().len(), 5);

    let id = env.send(&key, simple_message("jane@example.com")).await;
    env.wait_for_status(&key, &id, "delivered", Duration::from_secs(10))
        .await;
    assert_eq!(env.sink.messages()[0].rcpt_to, ["jane@example.com"]);
    env.stop().await;
}

#[tokio::test]
async fn invalid_requests_are_problems_naming_the_field() {
    let env = TestEnv::start().await;
    let key = env.ready_tenant().await;
    let bad = problem(
        env.post(
            &key,
            "/v1/suppressions",
            json!({"addresses": ["ok@example.com", "nope", "also@example.com", "a@@b"]}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(fields(&bad), ["addresses[1]", "addresses[3]"]);
    let neither = problem(
        env.post(&key, "/v1/suppressions", json!({})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(fields(&neither), ["address"]);
    let too_many: Vec<String> = (0..1001).map(|i| format!("u{i}@example.com")).collect();
    let over = problem(
        env.post(&key, "/v1/suppressions", json!({"addresses": too_many}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(fields(&over), ["addresses"]);
    let unknown = problem(
        env.post(
            &key,
            "/v1/suppressions",
            json!({"address": "a@example.com", "reason": "complaint"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(!fields(&unknown).is_empty());

    let query = problem(
        env.get(
            &key,
            "/v1/suppressions?limit=0&reason=spam&cursor=not%20a%20cursor",
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(fields(&query), ["cursor", "limit", "reason"]);

    // Managing the list takes the admin scope; reading it, read.
    let (_, reader) = env.tenant_with_key(&["read"]).await;
    problem(
        env.post(
            &reader,
            "/v1/suppressions",
            json!({"address": "a@example.com"}),
        )
        .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    problem(
        delete(&env, &reader, "/v1/suppressions/a@example.com").await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let (_, sender) = env.tenant_with_key(&["send"]).await;
    problem(
        env.get(&sender, "/v1/suppressions").await,
        StatusCode::FORBIDDEN,
    )
    .await;
    problem(
        env.http
            .get(env.url("/v1/suppressions"))
            .send()
            .await
            .unwrap(),
        StatusCode::UNAUTHORIZED,
    )
    .await;

    // Nothing was half-added.
    let listed = json_of(env.get(&key, "/v1/suppressions").await, StatusCode::OK).await;
    assert!(listed["suppressions"].as_array().unwrap().is_empty());
    env.stop().await;
}

#[tokio::test]
async fn tenants_do_not_see_each_others_suppressions() {
    let env = TestEnv::start().await;
    let first = env.ready_tenant().await;
    let (_, second) = env.tenant_with_key(&["send", "read", "admin"]).await;
    let added = env
        .post(
            &first,
            "/v1/suppressions",
            json!({"address": "jane@example.com"}),
        )
        .await;
    assert_eq!(added.status(), StatusCode::CREATED);

    let listed = json_of(env.get(&second, "/v1/suppressions").await, StatusCode::OK).await;
    assert!(listed["suppressions"].as_array().unwrap().is_empty());
    problem(
        env.get(&second, "/v1/suppressions/jane@example.com").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        delete(&env, &second, "/v1/suppressions/jane@example.com").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let still = env.get(&first, "/v1/suppressions/jane@example.com").await;
    assert_eq!(still.status(), StatusCode::OK);

    // The second tenant's mail to the address goes out.
    let domain = env
        .post(&second, "/v1/domains", json!({"name": "acme.test"}))
        .await;
    assert_eq!(domain.status(), StatusCode::CREATED);
    let id = env.send(&second, simple_message("jane@example.com")).await;
    env.wait_for_status(&second, &id, "delivered", Duration::from_secs(10))
        .await;
    env.stop().await;
}

/// Polls `GET /v1/suppressions/{address}` until it answers 200.
async fn wait_for_suppression(env: &TestEnv, key: &str, address: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let response = env.get(key, &format!("/v1/suppressions/{address}")).await;
        if response.status() == StatusCode::OK {
            return response.json().await.unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "{address} never reached the suppression list"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_hard_bounce_adds_the_address_by_itself() {
    let env = TestEnv::start_with(Arc::new(CueByLocalPart), Roles::ALL, |_| {}).await;
    let key = env.ready_tenant().await;
    let bounced = env
        .send(&key, simple_message("bounce-me@example.com"))
        .await;
    env.wait_for_status(&key, &bounced, "bounced", Duration::from_secs(10))
        .await;
    // A full mailbox is a soft bounce: it says nothing about the address.
    let full = env.send(&key, simple_message("full@example.com")).await;
    env.wait_for_status(&key, &full, "bounced", Duration::from_secs(10))
        .await;

    let entry = wait_for_suppression(&env, &key, "bounce-me@example.com").await;
    assert_eq!(entry["reason"], "hard-bounce");
    assert_eq!(entry["message_id"], bounced.as_str());
    assert!(entry["event_id"].as_str().unwrap().starts_with("evt_"));
    let listed = json_of(
        env.get(&key, "/v1/suppressions?reason=hard-bounce").await,
        StatusCode::OK,
    )
    .await;
    let addresses: Vec<&str> = listed["suppressions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["address"].as_str().unwrap())
        .collect();
    assert_eq!(addresses, ["bounce-me@example.com"]);

    // The next message to the address is not sent.
    let sent = env.sink.count();
    let next = env
        .send(&key, simple_message("bounce-me@example.com"))
        .await;
    let view = env
        .wait_for_status(&key, &next, "suppressed", Duration::from_secs(10))
        .await;
    assert!(
        events_of(&view, "message.suppressed")[0]["detail"]
            .as_str()
            .unwrap()
            .contains("hard-bounce")
    );
    assert_eq!(env.sink.count(), sent);
    env.stop().await;
}
