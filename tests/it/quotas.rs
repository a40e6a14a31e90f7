//! Quotas per tenant and stream, batch sends, and fair sharing of bulk delivery,
//! through the real API, Redis and workers.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::time::Duration;

use common::{ADMIN_TOKEN, TestEnv, bulk, fields, problem, simple_message};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use sluice::run::Roles;

async fn patch_tenant(env: &TestEnv, tenant: &str, body: Value) -> Response {
    env.http
        .patch(env.url(&format!("/v1/admin/tenants/{tenant}")))
        .bearer_auth(ADMIN_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// A tenant with the domain `acme.test`; returns (tenant id, key).
async fn tenant(env: &TestEnv) -> (String, String) {
    let (id, key) = env.tenant_with_key(&["send", "read", "admin"]).await;
    let domain = env
        .post(&key, "/v1/domains", json!({"name": "acme.test"}))
        .await;
    assert_eq!(domain.status(), StatusCode::CREATED);
    (id, key)
}

fn header<'a>(response: &'a Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

#[tokio::test]
async fn a_campaign_over_its_bulk_quota_gets_429_while_otp_mail_still_goes() {
    let env = TestEnv::start().await;
    let (id, key) = tenant(&env).await;
    let patched = patch_tenant(
        &env,
        &id,
        json!({"quotas": {"bulk": {"per_second": 1, "burst": 3, "per_day": 1000}}}),
    )
    .await;
    assert_eq!(patched.status(), StatusCode::OK);
    let view: Value = patched.json().await.unwrap();
    assert_eq!(view["quotas"]["bulk"]["burst"], 3);
    assert_eq!(
        view["quotas"]["transactional"]["per_second"], env.config.quotas.transactional.per_second,
        "the other stream keeps the default"
    );

    for i in 0..3 {
        let response = env
            .post(&key, "/v1/messages", bulk(&format!("b{i}@example.com")))
            .await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        assert_eq!(
            header(&response, "ratelimit-policy"),
            "\"bulk-rate\";q=3;w=3, \"bulk-day\";q=1000;w=86400"
        );
        let remaining = format!("\"bulk-rate\";r={};", 2 - i);
        assert!(
            header(&response, "ratelimit").starts_with(&remaining),
            "{}",
            header(&response, "ratelimit")
        );
    }
    let refused = env.post(&key, "/v1/messages", bulk("b3@example.com")).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&refused, "retry-after"), "1");
    assert!(header(&refused, "ratelimit").contains("\"bulk-day\";r=997;"));
    let body = problem(refused, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(body["type"], "urn:sluice:problem:quota-exceeded");
    assert!(body["detail"].as_str().unwrap().contains("bulk"), "{body}");

    // The transactional stream is counted apart: OTP mail still goes, at once.
    let otp = env.send(&key, simple_message("otp@example.com")).await;
    env.wait_for_status(&key, &otp, "delivered", Duration::from_secs(10))
        .await;
    // Nothing of the refused message was kept: three bulk messages and the OTP.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let delivered: Vec<_> = env
        .sink
        .messages()
        .iter()
        .map(|m| m.rcpt_to.clone())
        .collect();
    assert_eq!(delivered.len(), 4, "{delivered:?}");
    assert!(!delivered.iter().any(|r| r == &["b3@example.com"]));

    // After a second the bucket has one more message in it.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let again = env.post(&key, "/v1/messages", bulk("b4@example.com")).await;
    assert_eq!(again.status(), StatusCode::ACCEPTED);
    env.stop().await;
}

#[tokio::test]
async fn the_rolling_day_refuses_with_a_retry_after_of_about_a_day() {
    let env = TestEnv::start().await;
    let (id, key) = tenant(&env).await;
    let other = tenant(&env).await;
    let patched = patch_tenant(
        &env,
        &id,
        json!({"quotas": {"transactional": {"per_day": 2}}}),
    )
    .await;
    assert_eq!(patched.status(), StatusCode::OK);
    env.send(&key, simple_message("a@example.com")).await;
    env.send(&key, simple_message("b@example.com")).await;
    let refused = env
        .post(&key, "/v1/messages", simple_message("c@example.com"))
        .await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = header(&refused, "retry-after").parse().unwrap();
    assert!(
        (23 * 3600..=24 * 3600).contains(&wait),
        "Retry-After {wait}"
    );
    // Another tenant is not affected.
    env.send(&other.1, simple_message("d@example.com")).await;
    // Back to the default: sending works again at once.
    let reset = patch_tenant(
        &env,
        &id,
        json!({"quotas": {"transactional": {"per_day": null}}}),
    )
    .await;
    assert_eq!(reset.status(), StatusCode::OK);
    env.send(&key, simple_message("c@example.com")).await;
    env.stop().await;
}

#[tokio::test]
async fn quota_changes_are_validated() {
    let env = TestEnv::start().await;
    let (id, _) = tenant(&env).await;
    let zero = patch_tenant(&env, &id, json!({"quotas": {"bulk": {"per_second": 0}}})).await;
    let body = problem(zero, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["errors"][0]["field"], "quotas.bulk.per_second");
    let unknown = patch_tenant(&env, &id, json!({"quotas": {"bulk": {"per_minute": 5}}})).await;
    assert_eq!(unknown.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let missing = patch_tenant(
        &env,
        "ten_01JZZZZZZZZZZZZZZZZZZZZZZZ",
        json!({"quotas": {"bulk": {"per_day": 5}}}),
    )
    .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    env.stop().await;
}

#[tokio::test]
async fn a_batch_answers_each_message_in_order_and_counts_each_against_the_quota() {
    let env = TestEnv::start().await;
    let (id, key) = tenant(&env).await;
    let patched = patch_tenant(
        &env,
        &id,
        json!({"quotas": {"bulk": {"per_second": 1, "burst": 2}}}),
    )
    .await;
    assert_eq!(patched.status(), StatusCode::OK);
    let mut bad_to = simple_message("x@example.com");
    bad_to["to"] = json!(["not an address"]);
    let mut foreign = simple_message("y@example.com");
    foreign["from"] = json!("someone@elsewhere.test");
    let malformed = json!([
        simple_message("one@example.com"),
        bad_to,
        bulk("two@example.com"),
        foreign,
        {"from": "noreply@acme.test", "to": "three@example.com", "subject": "x", "text": "y"},
    ]);
    // A malformed message refuses the whole batch, every fault named by its index,
    // and uses no quota.
    let refused = problem(
        env.post(&key, "/v1/messages/batch", json!({"messages": malformed}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(
        fields(&refused),
        ["messages[1].to[0]", "messages[3].from", "messages[4].to"],
        "{refused}"
    );
    assert!(env.sink.messages().is_empty());

    let messages = json!([
        simple_message("one@example.com"),
        bulk("two@example.com"),
        bulk("three@example.com"),
        bulk("four@example.com"),
    ]);
    let response = env
        .post(&key, "/v1/messages/batch", json!({"messages": messages}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(header(&response, "ratelimit-policy").contains("\"bulk-rate\";q=2"));
    let body: Value = response.json().await.unwrap();
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    let status = |i: usize| results[i]["status"].clone();
    assert_eq!(status(0), "queued");
    assert_eq!(status(1), "queued");
    assert_eq!(
        status(2),
        "queued",
        "the second bulk message fits the burst of 2"
    );
    assert_eq!(status(3), 429);
    assert_eq!(results[3]["type"], "urn:sluice:problem:quota-exceeded");

    let accepted: Vec<&str> = [0, 1, 2]
        .iter()
        .map(|&i| results[i]["id"].as_str().unwrap())
        .collect();
    for id in &accepted {
        env.wait_for_status(&key, id, "delivered", Duration::from_secs(10))
            .await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        env.sink.messages().len(),
        3,
        "only the accepted messages went out"
    );
    env.stop().await;
}

#[tokio::test]
async fn a_batch_is_idempotent_and_bounded() {
    let env = TestEnv::start().await;
    let (_, key) = tenant(&env).await;
    let body =
        json!({"messages": [simple_message("a@example.com"), simple_message("b@example.com")]});
    let send = |body: Value| {
        env.http
            .post(env.url("/v1/messages/batch"))
            .bearer_auth(&key)
            .header("Idempotency-Key", "batch-1")
            .json(&body)
            .send()
    };
    let first: Value = send(body.clone()).await.unwrap().json().await.unwrap();
    let second: Value = send(body.clone()).await.unwrap().json().await.unwrap();
    assert_eq!(
        first["results"], second["results"],
        "the replay answers the same ids"
    );
    assert!(first["results"][0]["id"].is_string());
    let ids: Vec<&str> = first["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    for id in &ids {
        env.wait_for_status(&key, id, "delivered", Duration::from_secs(10))
            .await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(env.sink.messages().len(), 2, "sent once");

    let empty = env
        .post(&key, "/v1/messages/batch", json!({"messages": []}))
        .await;
    let empty = problem(empty, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(empty["errors"][0]["field"], "messages");
    let many: Vec<Value> = (0..501)
        .map(|i| simple_message(&format!("m{i}@example.com")))
        .collect();
    let too_many = env
        .post(&key, "/v1/messages/batch", json!({"messages": many}))
        .await;
    let too_many = problem(too_many, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(too_many["errors"][0]["field"], "messages");
    env.stop().await;
}

#[tokio::test]
async fn a_tenants_ten_bulk_messages_are_not_stuck_behind_anothers_campaign() {
    fair_sharing_with_partitions(1).await;
}

#[tokio::test]
async fn fair_sharing_holds_across_sixteen_partitions_of_one_redis() {
    fair_sharing_with_partitions(16).await;
}

async fn fair_sharing_with_partitions(partitions: u16) {
    // Queue everything before any worker runs, so the campaign's backlog is real.
    let env = TestEnv::start_with(
        std::sync::Arc::new(sluice_smtp_server::AcceptAll),
        Roles::API,
        |c| c.queue.partitions = partitions,
    )
    .await;
    let (_, big) = tenant(&env).await;
    let (_, small) = tenant(&env).await;
    common::queue_bulk(&env, &big, "big", 1_500).await;
    common::queue_bulk(&env, &small, "small", 10).await;

    let worker = env.start_roles(Roles::WORKER, |c| c.workers = 4).await;
    let order = common::delivered_until(&env, "small", 10, Duration::from_secs(60)).await;
    // The campaign's first 256 went straight to the stream(s); after that the two
    // tenants alternate (in each partition: the small sender's few per partition come
    // within a few rounds of 16). Without fair sharing the small sender would wait
    // for all 1,500.
    let last = order.iter().rposition(|r| r.starts_with("small")).unwrap();
    let bound = if partitions == 1 {
        256 + 20 + 64
    } else {
        256 + 16 * 6 + 64
    };
    assert!(
        last < bound,
        "the small sender's last message arrived as number {last}"
    );
    worker.stop().await.unwrap();
    env.stop().await;
}
