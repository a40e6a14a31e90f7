//! The tenant reputation guard, end to end: real bounces (the sink refuses
//! `bounce…@` recipients with 550 5.1.1) and real ARF complaints (sent to the inbound
//! listener) drive a tenant's rates past the thresholds of a small test window; the
//! warning, the pause of bulk mail (429 at the API, queued bulk held by the worker)
//! and the operator's resume are watched through the API, the event feed and the sink.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use sluice::run::Roles;
use sluice_smtp_server::CueByLocalPart;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::bounce_support::{BOUNCE_DOMAIN, delivered, fixture, inbound, inject, rewrite};
use crate::common::{ADMIN_TOKEN, TestEnv, bulk, problem, simple_message, webhook_receiver};

/// A guard that acts from 10 recipients; held bulk is rechecked only hourly, so
/// held mail that arrives promptly after a resume was released by the resume.
async fn env() -> TestEnv {
    TestEnv::start_with(Arc::new(CueByLocalPart), Roles::ALL, |config| {
        config.webhook_allow_private = true;
        config.reputation.min_volume = 10;
        config.reputation.window = Duration::from_secs(3600);
        config.reputation.hold_interval = Duration::from_secs(3600);
    })
    .await
}

/// A tenant with a full-scope key and the domain `acme.test`: (tenant id, key).
async fn tenant(env: &TestEnv) -> (String, String) {
    let (id, key) = env.tenant_with_key(&["send", "read", "admin"]).await;
    let domain = env
        .post(&key, "/v1/domains", json!({"name": "acme.test"}))
        .await;
    assert_eq!(domain.status(), StatusCode::CREATED);
    (id, key)
}

async fn admin_get(env: &TestEnv, path: &str) -> Value {
    let response = env
        .http
        .get(env.url(path))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// The tenant's feed events of `kind`, oldest first.
async fn feed(env: &TestEnv, key: &str, kind: &str) -> Vec<Value> {
    let response = env.get(key, &format!("/v1/events?type={kind}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let mut events = body["events"].as_array().unwrap().clone();
    events.reverse();
    events
}

/// Waits until the feed holds `count` events of `kind`; returns them.
async fn wait_feed(env: &TestEnv, key: &str, kind: &str, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let events = feed(env, key, kind).await;
        if events.len() >= count {
            return events;
        }
        assert!(
            Instant::now() < deadline,
            "{kind}: {} of {count} events in the feed",
            events.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Sends `to` on `stream` and waits for its final `status`.
async fn settled(env: &TestEnv, key: &str, to: &str, stream: &str, status: &str) -> String {
    let mut body = simple_message(to);
    body["stream"] = stream.into();
    let id = env.send(key, body).await;
    env.wait_for_status(key, &id, status, Duration::from_secs(15))
        .await;
    id
}

#[tokio::test]
async fn hard_bounces_warn_then_pause_bulk_until_an_operator_resumes_it() {
    let env = env().await;
    let (tenant, key) = tenant(&env).await;
    let (url, hooks) = webhook_receiver().await;
    let kinds = [
        "tenant.reputation_warning",
        "tenant.paused",
        "tenant.resumed",
    ];
    let webhook = env
        .post(&key, "/v1/webhooks", json!({"url": url, "events": kinds}))
        .await;
    assert_eq!(webhook.status(), StatusCode::CREATED);

    // 19 delivered and 1 hard bounce: 5 %, the review threshold.
    for i in 0..19 {
        settled(
            &env,
            &key,
            &format!("reader{i}@example.org"),
            "bulk",
            "delivered",
        )
        .await;
    }
    settled(&env, &key, "bounce0@example.org", "bulk", "bounced").await;
    let warnings = wait_feed(&env, &key, "tenant.reputation_warning", 1).await;
    let warning = &warnings[0];
    assert!(warning.get("message_id").is_none(), "{warning:#}");
    assert_eq!(warning["reputation"]["figures"]["stream"], "bulk");
    assert_eq!(warning["reputation"]["figures"]["level"], "review");
    assert_eq!(warning["reputation"]["figures"]["hard_bounced"], 1);
    assert_eq!(warning["reputation"]["figures"]["delivered"], 19);
    assert_eq!(warning["reputation"]["figures"]["hard_bounce_rate"], 0.05);
    assert!(
        warning["detail"]
            .as_str()
            .unwrap()
            .contains("hard bounces 5 %"),
        "{warning:#}"
    );

    // Bulk scheduled before the pause, due after it: it must be held, not sent.
    let due = OffsetDateTime::now_utc() + time::Duration::seconds(8);
    let send_at = due.format(&Rfc3339).unwrap();
    let mut waiting = Vec::new();
    for i in 0..2 {
        let mut body = bulk(&format!("later{i}@example.org"));
        body["send_at"] = json!(send_at);
        waiting.push(env.send(&key, body).await);
    }

    // A second bounce (2 of 21, 9.5 %) is still review: no second warning. The
    // third (3 of 22, 13.6 %) reaches the pause threshold.
    settled(&env, &key, "bounce1@example.org", "bulk", "bounced").await;
    settled(&env, &key, "bounce2@example.org", "bulk", "bounced").await;
    let paused = wait_feed(&env, &key, "tenant.paused", 1).await;
    assert!(
        OffsetDateTime::now_utc() < due,
        "the pause came after the scheduled bulk fell due; the test cannot tell holding from sending"
    );
    assert_eq!(paused[0]["reputation"]["figures"]["hard_bounced"], 3);
    assert_eq!(
        paused[0]["reputation"]["thresholds"]["hard_bounce_rate"],
        0.1
    );
    assert_eq!(
        feed(&env, &key, "tenant.reputation_warning").await.len(),
        1,
        "one warning per crossing, not one per event"
    );

    // Bulk sends are refused with a problem that says why and how to get resumed.
    let refused = env
        .post(&key, "/v1/messages", bulk("new@example.org"))
        .await;
    assert!(refused.headers().get("retry-after").is_none());
    let refused = problem(refused, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(refused["type"], "urn:sluice:problem:reputation-paused");
    let detail = refused["detail"].as_str().unwrap();
    for part in [
        "paused",
        "hard bounces 13.636 % (3 of 22)",
        "/resume",
        "Transactional",
    ] {
        assert!(detail.contains(part), "{part}: {detail}");
    }
    let batch = env
        .post(
            &key,
            "/v1/messages/batch",
            json!({"messages": [bulk("b1@example.org"), simple_message("t1@example.org")]}),
        )
        .await;
    assert_eq!(batch.status(), StatusCode::OK);
    let batch: Value = batch.json().await.unwrap();
    assert_eq!(batch["results"][0]["status"], 429, "{batch:#}");
    assert_eq!(
        batch["results"][0]["type"],
        "urn:sluice:problem:reputation-paused"
    );
    assert_eq!(batch["results"][1]["status"], "queued", "{batch:#}");

    // Transactional mail still goes out.
    settled(&env, &key, "otp@example.org", "transactional", "delivered").await;

    // The scheduled bulk fell due while paused: held (queued, never attempted, no
    // event), rescheduled an hour on, and nothing reached the sink.
    let past_due = (due - OffsetDateTime::now_utc())
        .whole_milliseconds()
        .max(0) as u64
        + 3000;
    tokio::time::sleep(Duration::from_millis(past_due)).await;
    for id in &waiting {
        let view = env.message(&key, id).await;
        assert_eq!(view["status"], "queued", "{view:#}");
        assert_eq!(view["attempts"], 0, "{view:#}");
        let next =
            OffsetDateTime::parse(view["next_attempt_at"].as_str().unwrap(), &Rfc3339).unwrap();
        assert!(
            next > OffsetDateTime::now_utc() + time::Duration::minutes(50),
            "held for the hold interval: {view:#}"
        );
    }
    let reached = |prefix: &str| {
        env.sink
            .messages()
            .iter()
            .filter(|m| m.rcpt_to[0].starts_with(prefix))
            .count()
    };
    assert_eq!(reached("later"), 0);

    // The operator sees the rates, the thresholds and the pause.
    let view = admin_get(&env, &format!("/v1/admin/tenants/{tenant}")).await;
    let reputation = &view["reputation"];
    assert_eq!(reputation["streams"]["bulk"]["hard_bounced"], 3, "{view:#}");
    assert_eq!(reputation["streams"]["bulk"]["delivered"], 19);
    assert_eq!(reputation["streams"]["bulk"]["level"], "pause");
    assert_eq!(reputation["streams"]["transactional"]["level"], "ok");
    assert_eq!(reputation["pause"]["complaint_rate"], 0.003);
    assert_eq!(reputation["min_volume"], 10);
    assert!(reputation["bulk_paused"]["since"].is_string(), "{view:#}");

    // Resume: an event, the held bulk delivered at once, bulk accepted again.
    let resumed = env
        .admin_post(&format!("/v1/admin/tenants/{tenant}/resume"), json!({}))
        .await;
    assert_eq!(resumed.status(), StatusCode::OK);
    let resumed: Value = resumed.json().await.unwrap();
    assert!(
        resumed["reputation"].get("bulk_paused").is_none(),
        "{resumed:#}"
    );
    assert_eq!(resumed["reputation"]["streams"]["bulk"]["hard_bounced"], 0);
    wait_feed(&env, &key, "tenant.resumed", 1).await;
    for id in &waiting {
        env.wait_for_status(&key, id, "delivered", Duration::from_secs(15))
            .await;
    }
    assert_eq!(reached("later"), 2);
    settled(&env, &key, "again@example.org", "bulk", "delivered").await;
    let twice = env
        .admin_post(&format!("/v1/admin/tenants/{tenant}/resume"), json!({}))
        .await;
    problem(twice, StatusCode::CONFLICT).await;

    // The same three events reached the webhook, each once, with the feed's ids.
    let deadline = Instant::now() + Duration::from_secs(15);
    while hooks.lock().unwrap().len() < 3 {
        assert!(Instant::now() < deadline, "{:#?}", hooks.lock().unwrap());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let received = hooks.lock().unwrap().clone();
    let types: Vec<&str> = received
        .iter()
        .map(|(_, b)| b["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, kinds, "{received:#?}");
    assert_eq!(received[0].0, warning["id"].as_str().unwrap());
    assert_eq!(
        received[1].1["data"]["reputation"]["figures"]["level"],
        "pause"
    );
    env.stop().await;
}

#[tokio::test]
async fn complaints_pause_bulk_but_only_warn_about_transactional() {
    let env = env().await;
    let (tenant, key) = tenant(&env).await;
    let complain = |verp: String, to: String| {
        let env = &env;
        async move {
            let arf = rewrite(
                &fixture("arf-yahoo-abuse.eml"),
                &verp,
                "reader@example.org",
                &to,
            );
            let replies = inject(inbound(env), &format!("abuse@{BOUNCE_DOMAIN}"), &arf).await;
            assert!(replies[5].starts_with("250"), "{replies:?}");
        }
    };

    // Transactional: 10 delivered, 1 complaint = 10 %, over the pause threshold.
    let mut first = None;
    for i in 0..10 {
        let to = format!("t{i}@example.org");
        let (_, _, verp) = delivered(&env, &key, &to, "transactional").await;
        first.get_or_insert((verp, to));
    }
    let (verp, to) = first.unwrap();
    complain(verp, to).await;
    let warnings = wait_feed(&env, &key, "tenant.reputation_warning", 1).await;
    assert_eq!(
        warnings[0]["reputation"]["figures"]["stream"],
        "transactional"
    );
    assert_eq!(warnings[0]["reputation"]["figures"]["level"], "pause");
    assert_eq!(warnings[0]["reputation"]["figures"]["complained"], 1);
    assert!(
        warnings[0]["detail"]
            .as_str()
            .unwrap()
            .contains("never paused"),
        "{:#}",
        warnings[0]
    );
    // Never paused: transactional and bulk both still go out.
    settled(&env, &key, "otp@example.org", "transactional", "delivered").await;
    let view = admin_get(&env, &format!("/v1/admin/tenants/{tenant}")).await;
    assert!(view["reputation"].get("bulk_paused").is_none(), "{view:#}");
    assert_eq!(
        view["reputation"]["streams"]["transactional"]["complained"],
        1
    );

    // Bulk: 10 delivered, 1 complaint: paused.
    let mut first = None;
    for i in 0..10 {
        let to = format!("b{i}@example.org");
        let (_, _, verp) = delivered(&env, &key, &to, "bulk").await;
        first.get_or_insert((verp, to));
    }
    let (verp, to) = first.unwrap();
    complain(verp, to).await;
    let paused = wait_feed(&env, &key, "tenant.paused", 1).await;
    assert_eq!(paused[0]["reputation"]["figures"]["complaint_rate"], 0.1);
    let refused = env
        .post(&key, "/v1/messages", bulk("new@example.org"))
        .await;
    let refused = problem(refused, StatusCode::TOO_MANY_REQUESTS).await;
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains("complaints 10 % (1 of 10 delivered)"),
        "{refused:#}"
    );
    settled(&env, &key, "otp2@example.org", "transactional", "delivered").await;
    env.stop().await;
}

#[tokio::test]
async fn on_a_redis_cluster_the_pause_holds_and_the_resume_releases() {
    // 3 masters, 4 partitions: the counts (tenant's slot), the held sets and the
    // delayed sets (partitions' slots) and the event streams live on different nodes.
    let env =
        TestEnv::start_on_cluster((3, 0, 4), Arc::new(CueByLocalPart), Roles::ALL, |config| {
            config.reputation.min_volume = 2;
            config.reputation.window = Duration::from_secs(3600);
            config.reputation.hold_interval = Duration::from_secs(3600);
        })
        .await;
    let (tenant, key) = tenant(&env).await;
    settled(&env, &key, "reader0@example.org", "bulk", "delivered").await;
    let due = OffsetDateTime::now_utc() + time::Duration::seconds(6);
    let mut body = bulk("later@example.org");
    body["send_at"] = json!(due.format(&Rfc3339).unwrap());
    let later = env.send(&key, body).await;
    // 1 of 2 hard-bounced: 50 %, over the pause threshold at the minimum volume.
    settled(&env, &key, "bounce0@example.org", "bulk", "bounced").await;
    wait_feed(&env, &key, "tenant.paused", 1).await;
    assert!(
        OffsetDateTime::now_utc() < due,
        "paused too late for the test"
    );
    let refused = env
        .post(&key, "/v1/messages", bulk("new@example.org"))
        .await;
    problem(refused, StatusCode::TOO_MANY_REQUESTS).await;

    let past_due = (due - OffsetDateTime::now_utc())
        .whole_milliseconds()
        .max(0) as u64
        + 3000;
    tokio::time::sleep(Duration::from_millis(past_due)).await;
    let view = env.message(&key, &later).await;
    assert_eq!(view["status"], "queued", "held: {view:#}");
    assert_eq!(view["attempts"], 0, "{view:#}");

    let resumed = env
        .admin_post(&format!("/v1/admin/tenants/{tenant}/resume"), json!({}))
        .await;
    assert_eq!(resumed.status(), StatusCode::OK);
    env.wait_for_status(&key, &later, "delivered", Duration::from_secs(15))
        .await;
    wait_feed(&env, &key, "tenant.resumed", 1).await;
    env.stop().await;
}
