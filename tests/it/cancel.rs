//! `DELETE /v1/messages/{id}`: a message not yet sent is cancelled and never reaches
//! the wire, whatever the workers were doing; one being delivered or already final
//! is a 409; another tenant's is a 404.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use sluice::run::Roles;
use sluice_smtp_server::{
    AcceptAll, CueByLocalPart, DeliverFuture, Peer, ReceivedMessage, Reply, SinkBehavior,
};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::{Notify, Semaphore};

use common::{TestEnv, problem, simple_message};

const DELAYED: &str = "sluice:v1:{sluice:q0}:delayed";

async fn cancel(env: &TestEnv, key: &str, id: &str) -> reqwest::Response {
    env.http
        .delete(env.url(&format!("/v1/messages/{id}")))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
}

/// Cancels, asserting the 200, and returns the message view from the response.
async fn cancelled(env: &TestEnv, key: &str, id: &str) -> Value {
    let response = cancel(env, key, id).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn event_types(view: &Value) -> Vec<String> {
    view["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect()
}

fn scheduled(to: &str, at: OffsetDateTime) -> Value {
    let mut body = simple_message(to);
    body["send_at"] = json!(at.format(&Rfc3339).unwrap());
    body
}

async fn redis(env: &TestEnv) -> redis::aio::MultiplexedConnection {
    redis::Client::open(env.redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// The tenant's feed, polled until it holds a `message.cancelled` event of `id`.
async fn wait_for_cancelled_event(env: &TestEnv, key: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let page: Value = env
            .get(key, &format!("/v1/events?message_id={id}"))
            .await
            .json()
            .await
            .unwrap();
        if let Some(event) = page["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["type"] == "message.cancelled")
        {
            return event.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no message.cancelled in {page:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_cancelled_scheduled_message_is_never_sent() {
    let env = TestEnv::start().await;
    let key = env.ready_tenant().await;
    let due = OffsetDateTime::now_utc() + time::Duration::seconds(3);
    let id = env
        .send(&key, scheduled("cancelled@example.com", due))
        .await;
    // Due at the same time and not cancelled: proves the scheduler ran past the time.
    let control = env.send(&key, scheduled("control@example.com", due)).await;
    let mut conn = redis(&env).await;
    let member = format!("transactional|{id}");
    let score: Option<f64> = redis::cmd("ZSCORE")
        .arg(DELAYED)
        .arg(&member)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        score.is_some(),
        "the scheduled message is in the delayed set"
    );

    let view = cancelled(&env, &key, &id).await;
    assert_eq!(view["status"], "cancelled", "{view:#}");
    assert_eq!(view["recipients"][0]["status"], "cancelled");
    assert!(view.get("next_attempt_at").is_none(), "{view:#}");
    assert_eq!(
        event_types(&view),
        ["message.scheduled", "message.cancelled"]
    );
    let score: Option<f64> = redis::cmd("ZSCORE")
        .arg(DELAYED)
        .arg(&member)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(score, None, "cancelling takes it out of the delayed set");
    // The event reaches the tenant's feed (and so its webhooks) like any other.
    let event = wait_for_cancelled_event(&env, &key, &id).await;
    assert_eq!(event["message_id"], id.as_str());

    env.wait_for_status(&key, &control, "delivered", Duration::from_secs(15))
        .await;
    // A moment for anything wrongly promoted with the control to be sent too.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let sent: Vec<String> = env
        .sink
        .messages()
        .iter()
        .flat_map(|m| m.rcpt_to.clone())
        .collect();
    assert_eq!(sent, ["control@example.com"]);
    assert_eq!(env.message(&key, &id).await["status"], "cancelled");

    // Cancelling twice: already final.
    let body = problem(cancel(&env, &key, &id).await, StatusCode::CONFLICT).await;
    assert!(
        body["detail"].as_str().unwrap().contains("cancelled"),
        "{body}"
    );
    env.stop().await;
}

#[tokio::test]
async fn a_queued_message_cancelled_before_a_worker_reads_it_is_skipped() {
    // No worker yet: the message waits in the stream.
    let api_only = Roles::API;
    let env = TestEnv::start_with(Arc::new(AcceptAll), api_only, |_| {}).await;
    let key = env.ready_tenant().await;
    let id = env.send(&key, simple_message("queued@example.com")).await;
    let view = cancelled(&env, &key, &id).await;
    assert_eq!(view["status"], "cancelled");

    let worker = env.start_roles(Roles::WORKER, |_| {}).await;
    let control = env.send(&key, simple_message("control@example.com")).await;
    env.wait_for_status(&key, &control, "delivered", Duration::from_secs(15))
        .await;
    let sent: Vec<String> = env
        .sink
        .messages()
        .iter()
        .flat_map(|m| m.rcpt_to.clone())
        .collect();
    assert_eq!(sent, ["control@example.com"]);
    // The worker acknowledged the cancelled entry without sending and left no claim.
    let mut conn = redis(&env).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let len: u64 = redis::cmd("XLEN")
            .arg("sluice:v1:{sluice:q0}:stream:transactional")
            .query_async(&mut conn)
            .await
            .unwrap();
        if len == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{len} entries left in the stream"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let fields: Vec<String> = redis::cmd("HKEYS")
        .arg(format!("sluice:v1:{{sluice:q0}}:msg:{id}"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        !fields.iter().any(|f| f.starts_with("claim:")),
        "{fields:?}"
    );
    let view = env.message(&key, &id).await;
    assert_eq!(view["status"], "cancelled");
    assert_eq!(
        event_types(&view),
        ["message.accepted", "message.cancelled"]
    );
    worker.stop().await.unwrap();
    env.stop().await;
}

#[tokio::test]
async fn a_deferred_message_is_cancelled_between_attempts() {
    let env = TestEnv::start_with(Arc::new(CueByLocalPart), Roles::ALL, |c| {
        c.delivery.retry_schedule = vec![Duration::from_secs(3600)];
    })
    .await;
    let key = env.ready_tenant().await;
    let deferred = env.send(&key, simple_message("defer@example.com")).await;
    let mut mixed = simple_message("ok@example.com");
    mixed["to"] = json!(["ok@example.com", "defer2@example.com"]);
    let mixed = env.send(&key, mixed).await;
    for id in [&deferred, &mixed] {
        env.wait_for_status(&key, id, "deferred", Duration::from_secs(15))
            .await;
    }

    let view = cancelled(&env, &key, &deferred).await;
    assert_eq!(view["status"], "cancelled");
    assert_eq!(view["recipients"][0]["status"], "cancelled");
    // The last reply stays, so the sender can see why it had not gone out yet.
    assert_eq!(view["recipients"][0]["smtp_reply"]["code"], 451);
    let members: Vec<String> = redis::cmd("ZRANGE")
        .arg(DELAYED)
        .arg(0)
        .arg(-1)
        .query_async(&mut redis(&env).await)
        .await
        .unwrap();
    assert!(
        !members.iter().any(|m| m.ends_with(deferred.as_str())),
        "{members:?}"
    );

    // One recipient already has it: the rest is cancelled, the message stays delivered.
    let view = cancelled(&env, &key, &mixed).await;
    assert_eq!(view["status"], "delivered", "{view:#}");
    let statuses: Vec<(&str, &str)> = view["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["address"].as_str().unwrap(),
                r["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            ("ok@example.com", "delivered"),
            ("defer2@example.com", "cancelled")
        ]
    );
    assert_eq!(event_types(&view).last().unwrap(), "message.cancelled");
    env.stop().await;
}

/// Holds every message at the end of DATA until the test opens the gate.
struct Gate {
    arrived: Notify,
    open: Semaphore,
}

impl SinkBehavior for Gate {
    fn deliver<'a>(&'a self, _peer: &'a Peer, msg: &'a ReceivedMessage) -> DeliverFuture<'a> {
        Box::pin(async move {
            self.arrived.notify_one();
            let _permit = self.open.acquire().await;
            Reply::new(250, format!("2.0.0 Ok: queued as {}", msg.id))
        })
    }
}

#[tokio::test]
async fn a_message_being_delivered_or_delivered_cannot_be_cancelled() {
    let gate = Arc::new(Gate {
        arrived: Notify::new(),
        open: Semaphore::new(0),
    });
    let env = TestEnv::start_with(gate.clone(), Roles::ALL, |_| {}).await;
    let key = env.ready_tenant().await;
    let id = env.send(&key, simple_message("slow@example.com")).await;
    tokio::time::timeout(Duration::from_secs(15), gate.arrived.notified())
        .await
        .expect("the message reached the sink");

    // The worker holds the message: the attempt decides, not the cancellation.
    let body = problem(cancel(&env, &key, &id).await, StatusCode::CONFLICT).await;
    assert!(
        body["detail"].as_str().unwrap().contains("being delivered"),
        "{body}"
    );
    assert_eq!(env.message(&key, &id).await["status"], "queued");

    gate.open.add_permits(100);
    let view = env
        .wait_for_status(&key, &id, "delivered", Duration::from_secs(15))
        .await;
    assert!(
        !event_types(&view).contains(&"message.cancelled".to_string()),
        "{view:#}"
    );
    let body = problem(cancel(&env, &key, &id).await, StatusCode::CONFLICT).await;
    assert!(
        body["detail"].as_str().unwrap().contains("delivered"),
        "{body}"
    );
    env.stop().await;
}

#[tokio::test]
async fn another_tenants_or_an_unknown_message_is_404() {
    let env = TestEnv::start().await;
    let key_a = env.ready_tenant().await;
    let key_b = env.ready_tenant().await;
    let due = OffsetDateTime::now_utc() + time::Duration::hours(1);
    let id = env.send(&key_a, scheduled("jane@example.com", due)).await;

    problem(cancel(&env, &key_b, &id).await, StatusCode::NOT_FOUND).await;
    problem(
        cancel(&env, &key_a, "msg_01jdx8k3m5n6p7q8r9s0t1v2w3").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        cancel(&env, &key_a, "not-an-id").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    // Cancelling takes the `send` scope.
    let (_, read_only) = env.tenant_with_key(&["read"]).await;
    problem(cancel(&env, &read_only, &id).await, StatusCode::FORBIDDEN).await;

    let view = env.message(&key_a, &id).await;
    assert_eq!(view["status"], "scheduled");
    assert_eq!(event_types(&view), ["message.scheduled"]);
    env.stop().await;
}
