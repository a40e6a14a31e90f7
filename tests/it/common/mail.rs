//! Queueing mail through the API and watching it arrive at the sink, shared by the
//! areas that count deliveries (crash recovery, fair sharing, the cluster).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use sluice_smtp_server::SinkHandle;

use super::{TestEnv, header, headers, simple_message};

/// A bulk message to `to`.
pub fn bulk(to: &str) -> Value {
    let mut body = simple_message(to);
    body["stream"] = json!("bulk");
    body
}

/// Sends `count` transactional messages one by one to `<prefix><i>@example.com`
/// through `POST /v1/messages`; their ids, in order.
pub async fn send_numbered(env: &TestEnv, key: &str, prefix: &str, count: usize) -> Vec<String> {
    let mut ids = Vec::with_capacity(count);
    for i in 0..count {
        ids.push(
            env.send(key, simple_message(&format!("{prefix}{i}@example.com")))
                .await,
        );
    }
    ids
}

/// Queues `count` bulk messages to `<prefix><batch>-<i>@example.com` through
/// `POST /v1/messages/batch`, 500 at a time.
pub async fn queue_bulk(env: &TestEnv, key: &str, prefix: &str, count: usize) {
    for (batch, start) in (0..count).step_by(500).enumerate() {
        let messages: Vec<Value> = (start..count.min(start + 500))
            .map(|i| bulk(&format!("{prefix}{batch}-{i}@example.com")))
            .collect();
        let response = env
            .post(key, "/v1/messages/batch", json!({"messages": messages}))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
    }
}

/// The first recipients in delivery order, once `n` of them start with `prefix`.
pub async fn delivered_until(
    env: &TestEnv,
    prefix: &str,
    n: usize,
    within: Duration,
) -> Vec<String> {
    let deadline = Instant::now() + within;
    loop {
        let order: Vec<String> = env
            .sink
            .messages()
            .iter()
            .map(|m| m.rcpt_to[0].clone())
            .collect();
        if order.iter().filter(|r| r.starts_with(prefix)).count() >= n {
            return order;
        }
        assert!(
            Instant::now() < deadline,
            "only {} of the {n} messages to {prefix}… arrived",
            order.iter().filter(|r| r.starts_with(prefix)).count()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Message id (`msg_…`, from the Message-ID header) → how many times the sink received it.
pub fn delivered_counts(sink: &SinkHandle) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for message in sink.messages() {
        let headers = headers(&message.data);
        let id = header(&headers, "Message-ID")
            .and_then(|h| h.find("msg_").map(|at| h[at..].chars().take(30).collect()));
        if let Some(id) = id {
            *counts.entry(id).or_default() += 1;
        }
    }
    counts
}

/// Waits until every id is at the sink; returns the ids still missing at `deadline`.
pub async fn wait_delivered(sink: &SinkHandle, ids: &[String], deadline: Instant) -> Vec<String> {
    loop {
        let counts = delivered_counts(sink);
        let missing: Vec<String> = ids
            .iter()
            .filter(|id| !counts.contains_key(id.as_str()))
            .cloned()
            .collect();
        if missing.is_empty() || Instant::now() >= deadline {
            return missing;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
