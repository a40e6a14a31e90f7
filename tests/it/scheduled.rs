//! Scheduled mail over real Redis and real SMTP: the maximum queue age counts from
//! when a message fell due (`send_at`), not from its acceptance, and its `Date:`
//! header is that time too.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use sluice::run::Roles;
use sluice_smtp_server::{Peer, Reply, SinkBehavior};
use time::OffsetDateTime;
use time::format_description::well_known::{Rfc2822, Rfc3339};

use common::{TestEnv, header, headers, simple_message};

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
async fn a_message_scheduled_beyond_the_maximum_age_is_retried_not_bounced() {
    let env = TestEnv::start_with(Arc::new(DeferFirstAttempt::default()), Roles::ALL, |c| {
        c.delivery.max_age = Duration::from_secs(4);
    })
    .await;
    let key = env.ready_tenant().await;
    // Whole seconds, so the Date header (second precision) can equal it exactly.
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let send_at = now + time::Duration::seconds(8);
    let mut body = simple_message("jane@example.com");
    body["send_at"] = json!(send_at.format(&Rfc3339).unwrap());
    let id = env.send(&key, body).await;

    let view = env
        .wait_for(&key, &id, Duration::from_secs(30), |v| {
            matches!(v["status"].as_str(), Some("delivered" | "bounced"))
        })
        .await;
    assert_eq!(
        view["status"], "delivered",
        "a 451 at the first attempt of a message scheduled past max_age must be retried: {view:#}"
    );
    assert_eq!(view["attempts"], 2);
    let kinds: Vec<&str> = view["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"message.deferred"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"message.delivered"), "{kinds:?}");
    assert!(!kinds.contains(&"message.bounced"), "{kinds:?}");

    let received = env.sink.messages();
    assert_eq!(received.len(), 1);
    let parsed = headers(&received[0].data);
    let date = OffsetDateTime::parse(header(&parsed, "Date").unwrap(), &Rfc2822).unwrap();
    assert_eq!(
        date, send_at,
        "the Date header is when the message fell due, not its acceptance"
    );
    env.stop().await;
}
