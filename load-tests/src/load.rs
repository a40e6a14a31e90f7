//! The sending phase: `concurrency` tasks share one HTTP client (one keep-alive
//! connection per task and API) and send until the message count or the duration is
//! reached. With more than one API (`--cluster`), requests go to them in turn.
//! Every request's outcome is kept: the latency of each 202, and every other answer
//! or failure by kind, so nothing is silently dropped.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde::Serialize;
use tokio::task::JoinSet;

use crate::cli::{Limit, StreamMode};
use crate::payload::Payload;

pub struct LoadPlan {
    /// `<base>/v1/messages` (or `<base>/v1/messages/batch` with `batch` > 1) of each
    /// API; the n-th request goes to `urls[n % urls.len()]`.
    pub urls: Vec<String>,
    /// Messages per request: 1 posts each alone, more posts them as one batch.
    pub batch: u32,
    pub api_key: String,
    pub concurrency: u32,
    pub limit: Limit,
    pub stream: StreamMode,
    pub payload: Arc<Payload>,
    /// The recipient of the `index`-th message.
    pub recipient: fn(u64) -> String,
}

/// `user<index>@example.com`: the load scenario's recipients (the relay takes them all).
pub fn example_recipient(index: u64) -> String {
    format!("user{index}@example.com")
}

/// Counters readable while the load runs (for progress lines).
#[derive(Debug, Default)]
pub struct Progress {
    pub done: AtomicU64,
    pub accepted: AtomicU64,
}

/// Every non-202 answer or failed request of one kind.
#[derive(Clone, Debug, Serialize)]
pub struct ErrorKind {
    pub count: u64,
    /// The first such answer's body or error text (shortened).
    pub sample: String,
}

#[derive(Debug)]
pub struct LoadResult {
    /// Just before the first request was sent.
    pub started: Instant,
    /// When the last response was complete.
    pub finished: Instant,
    /// When the first 202 was complete.
    pub first_accept: Option<Instant>,
    pub requests: u64,
    /// Latency of every 202 (request sent → response body read), per stream.
    pub accepted: BTreeMap<&'static str, Vec<Duration>>,
    /// `HTTP 429`, `connect`, `timeout`, … → count and a sample.
    pub errors: BTreeMap<String, ErrorKind>,
}

impl LoadResult {
    pub fn accepted_count(&self) -> u64 {
        self.accepted.values().map(|v| v.len() as u64).sum()
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().map(|e| e.count).sum()
    }
}

/// What one task saw.
#[derive(Default)]
struct TaskResult {
    requests: u64,
    first_accept: Option<Instant>,
    last_response: Option<Instant>,
    accepted: BTreeMap<&'static str, Vec<Duration>>,
    errors: BTreeMap<String, ErrorKind>,
}

impl TaskResult {
    fn error(&mut self, kind: String, sample: impl FnOnce() -> String) {
        self.errors
            .entry(kind)
            .and_modify(|e| e.count += 1)
            .or_insert_with(|| ErrorKind {
                count: 1,
                sample: shorten(&sample()),
            });
    }
}

pub async fn run(
    client: &reqwest::Client,
    plan: LoadPlan,
    progress: Arc<Progress>,
) -> anyhow::Result<LoadResult> {
    anyhow::ensure!(!plan.urls.is_empty(), "no URL to send to");
    let mut auth = HeaderValue::from_str(&format!("Bearer {}", plan.api_key))
        .context("the API key is not a valid header value")?;
    auth.set_sensitive(true);
    let plan = Arc::new(plan);
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = match plan.limit {
        Limit::Duration(d) => Some(started + d),
        Limit::Messages(_) => None,
    };
    let mut tasks = JoinSet::new();
    for _ in 0..plan.concurrency {
        tasks.spawn(sender(
            client.clone(),
            Arc::clone(&plan),
            auth.clone(),
            Arc::clone(&next),
            deadline,
            Arc::clone(&progress),
        ));
    }
    let mut result = LoadResult {
        started,
        finished: started,
        first_accept: None,
        requests: 0,
        accepted: BTreeMap::new(),
        errors: BTreeMap::new(),
    };
    while let Some(task) = tasks.join_next().await {
        let task = task.context("a sender task panicked")??;
        result.requests += task.requests;
        result.first_accept = match (result.first_accept, task.first_accept) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(last) = task.last_response {
            result.finished = result.finished.max(last);
        }
        for (stream, latencies) in task.accepted {
            result.accepted.entry(stream).or_default().extend(latencies);
        }
        for (kind, e) in task.errors {
            result
                .errors
                .entry(kind)
                .and_modify(|x| x.count += e.count)
                .or_insert(e);
        }
    }
    Ok(result)
}

async fn sender(
    client: reqwest::Client,
    plan: Arc<LoadPlan>,
    auth: HeaderValue,
    next: Arc<AtomicU64>,
    deadline: Option<Instant>,
    progress: Arc<Progress>,
) -> anyhow::Result<TaskResult> {
    let mut out = TaskResult::default();
    loop {
        let batch = u64::from(plan.batch.max(1));
        let index = next.fetch_add(batch, Ordering::Relaxed);
        let (more, count) = match (plan.limit, deadline) {
            (_, Some(deadline)) => (Instant::now() < deadline, batch),
            (Limit::Messages(n), None) => (index < n, batch.min(n.saturating_sub(index))),
            (Limit::Duration(_), None) => (false, 0),
        };
        if !more {
            break;
        }
        let stream = plan.stream.stream_of(index);
        let body = if plan.batch > 1 {
            batch_body(&plan, index, count)?
        } else {
            plan.payload.body(index, &(plan.recipient)(index), stream)?
        };
        // Round robin per request: request n (messages index .. index + batch) goes to
        // API n mod APIs, so every API gets the same share whatever the concurrency.
        let request = index / batch;
        let url = &plan.urls[(request % plan.urls.len() as u64) as usize];
        let sent = Instant::now();
        let response = client
            .post(url)
            .header(AUTHORIZATION, auth.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await;
        out.requests += 1;
        match response {
            Ok(response) => {
                let status = response.status();
                // Read the whole body: the latency includes it and the connection can
                // then be reused.
                let body = response.bytes().await;
                let done = Instant::now();
                out.last_response = Some(done);
                match body {
                    Ok(body) if status == StatusCode::OK && plan.batch > 1 => {
                        // One result per message: an `id` when accepted, else a problem.
                        let results = batch_results(&body);
                        let accepted = results.iter().filter(|r| r.is_none()).count();
                        if accepted > 0 {
                            out.first_accept.get_or_insert(done);
                        }
                        for (i, refused) in results.into_iter().enumerate() {
                            let stream = plan.stream.stream_of(index + i as u64);
                            match refused {
                                None => {
                                    out.accepted
                                        .entry(stream.as_str())
                                        .or_default()
                                        .push(done - sent);
                                    progress.accepted.fetch_add(1, Ordering::Relaxed);
                                }
                                Some(problem) => out
                                    .error(format!("batch item {}", problem.0), || {
                                        problem.1.clone()
                                    }),
                            }
                        }
                    }
                    Ok(_) if status == StatusCode::ACCEPTED => {
                        out.first_accept.get_or_insert(done);
                        out.accepted
                            .entry(stream.as_str())
                            .or_default()
                            .push(done - sent);
                        progress.accepted.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(body) => out.error(format!("HTTP {}", status.as_u16()), || {
                        String::from_utf8_lossy(&body).into_owned()
                    }),
                    Err(e) => out.error(kind_of(&e).to_owned(), || format!("{e:#}")),
                }
            }
            Err(e) => {
                out.last_response = Some(Instant::now());
                out.error(kind_of(&e).to_owned(), || error_chain(&e));
            }
        }
        progress.done.fetch_add(count, Ordering::Relaxed);
    }
    Ok(out)
}

/// `{"messages": [...]}` with messages `index .. index + count`.
fn batch_body(plan: &LoadPlan, index: u64, count: u64) -> anyhow::Result<Vec<u8>> {
    let mut body = b"{\"messages\":[".to_vec();
    for i in index..index + count {
        if i > index {
            body.push(b',');
        }
        let stream = plan.stream.stream_of(i);
        body.extend(plan.payload.body(i, &(plan.recipient)(i), stream)?);
    }
    body.extend(b"]}");
    Ok(body)
}

/// Each batch result: `None` when accepted, else `(status, problem text)`.
fn batch_results(body: &[u8]) -> Vec<Option<(u64, String)>> {
    let parsed: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    parsed["results"]
        .as_array()
        .map(|results| {
            results
                .iter()
                .map(|r| {
                    if r.get("id").is_some() {
                        None
                    } else {
                        Some((r["status"].as_u64().unwrap_or(0), r.to_string()))
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A short name for a failed request (no HTTP status).
fn kind_of(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect error"
    } else if e.is_body() || e.is_decode() {
        "response body error"
    } else {
        "request error"
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn shorten(text: &str) -> String {
    const MAX: usize = 300;
    let text = text.trim();
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}
