//! Delivery outcomes over real SMTP: deferrals retried from the delayed set, bounces,
//! giving up at the maximum age, an unreachable relay, and a worker process killed
//! with SIGKILL in the middle of its batch without losing a message.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use sluice::run::Roles;
use sluice_smtp_server::{CueByLocalPart, Peer, Reply, SinkBehavior};

use common::{TestEnv, send_numbered, simple_message};

/// Answers 451 to each recipient the first time it is seen, then 250.
#[derive(Default)]
struct DeferFirstAttempt {
    seen: Mutex<HashSet<String>>,
}

impl SinkBehavior for DeferFirstAttempt {
    fn rcpt_to(&self, _peer: &Peer, rcpt: &str) -> Reply {
        if self.seen.lock().unwrap().insert(rcpt.to_string()) {
            Reply::new(451, "4.3.0 Temporary local problem, try again")
        } else {
            Reply::ok()
        }
    }
}

#[tokio::test]
async fn a_deferred_recipient_is_retried_from_the_delayed_set() {
    let env = TestEnv::start_with(Arc::new(DeferFirstAttempt::default()), Roles::ALL, |_| {}).await;
    let key = env.ready_tenant().await;
    let id = env.send(&key, simple_message("jane@example.com")).await;
    let deferred = env
        .wait_for_status(&key, &id, "deferred", Duration::from_secs(10))
        .await;
    assert_eq!(deferred["recipients"][0]["status"], "deferred");
    assert_eq!(deferred["recipients"][0]["smtp_reply"]["code"], 451);
    assert_eq!(
        deferred["recipients"][0]["smtp_reply"]["enhanced_code"],
        "4.3.0"
    );
    assert!(deferred["next_attempt_at"].is_string());
    let delivered = env
        .wait_for_status(&key, &id, "delivered", Duration::from_secs(10))
        .await;
    assert_eq!(delivered["attempts"], 2);
    assert_eq!(delivered["recipients"][0]["attempts"], 2);
    let kinds: Vec<&str> = delivered["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["message.accepted", "message.deferred", "message.delivered"]
    );
    assert_eq!(env.sink.count(), 1);
    env.stop().await;
}

#[tokio::test]
async fn permanent_refusals_bounce_at_once_and_other_recipients_still_get_it() {
    let env = TestEnv::start_with(Arc::new(CueByLocalPart), Roles::ALL, |_| {}).await;
    let key = env.ready_tenant().await;
    let mut body = simple_message("ok@example.com");
    body["cc"] = json!(["bounce-me@example.com"]);
    let mixed = env.send(&key, body).await;
    let view = env
        .wait_for(&key, &mixed, Duration::from_secs(10), |v| {
            v["status"] != "queued"
        })
        .await;
    assert_eq!(view["status"], "delivered");
    let by_address = |address: &str| {
        view["recipients"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["address"] == address)
            .unwrap()
            .clone()
    };
    assert_eq!(by_address("ok@example.com")["status"], "delivered");
    let bounced = by_address("bounce-me@example.com");
    assert_eq!(bounced["status"], "bounced");
    assert_eq!(bounced["smtp_reply"]["code"], 550);
    assert_eq!(bounced["attempts"], 1);
    let received = env.sink.messages();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].rcpt_to, ["ok@example.com"]);

    let only_bounce = env.send(&key, simple_message("bounce@example.com")).await;
    let view = env
        .wait_for_status(&key, &only_bounce, "bounced", Duration::from_secs(10))
        .await;
    let bounce_event = view["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "message.bounced")
        .unwrap()
        .clone();
    assert_eq!(bounce_event["recipient"], "bounce@example.com");
    assert_eq!(bounce_event["smtp_reply"]["code"], 550);
    env.stop().await;
}

#[tokio::test]
async fn deferrals_give_up_and_bounce_at_the_maximum_age() {
    let env = TestEnv::start_with(Arc::new(CueByLocalPart), Roles::ALL, |c| {
        c.delivery.max_age = Duration::from_secs(3);
    })
    .await;
    let key = env.ready_tenant().await;
    let id = env.send(&key, simple_message("defer@example.com")).await;
    let view = env
        .wait_for_status(&key, &id, "bounced", Duration::from_secs(15))
        .await;
    let attempts = view["attempts"].as_u64().unwrap();
    assert!(
        (2..=4).contains(&attempts),
        "retried every second for 3 s, made {attempts} attempts"
    );
    let last = view["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["type"], "message.bounced");
    assert!(
        last["detail"]
            .as_str()
            .unwrap()
            .contains("maximum queue age"),
        "{last}"
    );
    assert_eq!(
        view["recipients"][0]["smtp_reply"]["code"], 451,
        "the last real reply is kept"
    );
    env.stop().await;
}

#[tokio::test]
async fn an_unreachable_relay_defers_without_losing_the_message() {
    let env = TestEnv::start_with(Arc::new(sluice_smtp_server::AcceptAll), Roles::ALL, |c| {
        // Nothing listens on port 1 of 127.0.0.1.
        c.relay_url = Some("smtp://127.0.0.1:1".into());
    })
    .await;
    let key = env.ready_tenant().await;
    let id = env.send(&key, simple_message("jane@example.com")).await;
    let view = env
        .wait_for_status(&key, &id, "deferred", Duration::from_secs(10))
        .await;
    let event = view["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(event["type"], "message.deferred");
    assert!(!event["detail"].as_str().unwrap().is_empty());
    env.stop().await;
}

#[tokio::test]
async fn a_worker_killed_mid_batch_loses_nothing() {
    let env = TestEnv::start_with(
        Arc::new(common::HangFirstTime::default()),
        Roles::API,
        |_| {},
    )
    .await;
    let key = env.ready_tenant().await;
    let mut ids = send_numbered(&env, &key, "hang", 3).await;
    ids.extend(send_numbered(&env, &key, "user", 60).await);

    // A real worker process, killed with SIGKILL while three deliveries hang in DATA.
    let mut worker = common::worker_process(&env, &[]);
    assert!(
        env.sink.wait_for_count(60, Duration::from_secs(30)).await,
        "the worker process delivered {}",
        env.sink.count()
    );
    let client = redis::Client::open(env.redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    // The sink counts a message at its 250, a moment before the worker settles it:
    // wait (bounded) until only the three hanging deliveries are still pending.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let summary: redis::Value = redis::cmd("XPENDING")
            .arg("sluice:v1:{sluice:q0}:stream:transactional")
            .arg("workers")
            .query_async(&mut conn)
            .await
            .unwrap();
        let in_flight = match summary {
            redis::Value::Array(items) => redis::from_redis_value_ref::<u64>(&items[0]).unwrap(),
            other => panic!("{other:?}"),
        };
        if in_flight == 3 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{in_flight} entries pending, expected the 3 hanging ones"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    worker.kill().await.unwrap();

    // Another worker takes over the dead one's entries once they have been idle for 2 s.
    let survivor = env.start_roles(Roles::WORKER, |_| {}).await;
    for id in &ids {
        env.wait_for_status(&key, id, "delivered", Duration::from_secs(20))
            .await;
    }
    let delivered_ids: HashSet<String> = env
        .sink
        .messages()
        .iter()
        .filter_map(|m| common::header(&common::headers(&m.data), "Message-ID").map(str::to_string))
        .collect();
    for id in &ids {
        assert!(
            delivered_ids.iter().any(|h| h.contains(id.as_str())),
            "message {id} never reached the sink"
        );
    }
    assert_eq!(
        env.sink.count(),
        63,
        "each message accepted by the sink exactly once"
    );
    survivor.stop().await.unwrap();
    env.stop().await;
}

#[tokio::test]
async fn the_worker_recovers_when_redis_loses_its_streams() {
    let env = TestEnv::start().await;
    // This test's own redis-server: emptied as an operator's FLUSHALL or a restore would.
    let client = redis::Client::open(env.redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("FLUSHALL").query_async(&mut conn).await.unwrap();
    let key = env.ready_tenant().await;
    let id = env.send(&key, simple_message("jane@example.com")).await;
    env.wait_for_status(&key, &id, "delivered", Duration::from_secs(10))
        .await;
    env.stop().await;
}
