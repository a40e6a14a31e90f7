//! `--scenario webhooks`: how fast events reach a webhook endpoint.
//!
//! The usual stack (redis-server, `sluice serve` relaying to the fast sink) plus an
//! HTTP receiver in this process (on the sink's runtime, so its CPU shows as the
//! sink's). One webhook for every event type points at it; each message makes two
//! events (`message.accepted`, `message.delivered`), so N messages make 2N webhooks.
//! For each one the receiver notes when it arrived and the event's own `timestamp`
//! (when Sluice recorded the event) from the payload: the difference is the
//! event → webhook latency, fan-out, scheduling, signing and the HTTP request
//! included. Both clocks are this machine's.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::{Value, json};
use sluice_smtp_server::SinkHandle;
use time::OffsetDateTime;

use crate::cli::{Cli, Limit};
use crate::delivery::DeliveryWatch;
use crate::load::{self, LoadPlan, Progress};
use crate::machine::{CpuProbe, CpuUse, Machine};
use crate::payload::Payload;
use crate::report::Latency;
use crate::stack::Stack;

/// Messages unless `--messages`.
pub const DEFAULT_MESSAGES: u64 = 5_000;

/// One webhook as the receiver saw it.
struct Arrival {
    at: Instant,
    id: String,
    kind: String,
    /// Receive time − the event's timestamp.
    latency: Duration,
}

#[derive(Default)]
struct Received {
    arrivals: Mutex<Vec<Arrival>>,
}

impl Received {
    fn count(&self) -> usize {
        self.arrivals.lock().map_or(0, |a| a.len())
    }
}

pub struct Receiver {
    addr: SocketAddr,
    received: Arc<Received>,
    server: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// Must run on the runtime that keeps serving it (the sink runtime).
    pub async fn start() -> anyhow::Result<Self> {
        let received = Arc::new(Received::default());
        let app = axum::Router::new()
            .fallback(receive)
            .with_state(received.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("starting the webhook receiver")?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            addr,
            received,
            server,
        })
    }

    pub fn shutdown(self) {
        self.server.abort();
    }
}

async fn receive(State(received): State<Arc<Received>>, body: Bytes) -> StatusCode {
    let at = Instant::now();
    let now = OffsetDateTime::now_utc();
    let Ok(payload) = serde_json::from_slice::<Value>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let timestamp = payload["timestamp"].as_str().and_then(|t| {
        OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
    });
    let latency = timestamp.map_or(Duration::ZERO, |t| {
        Duration::try_from(now - t).unwrap_or(Duration::ZERO)
    });
    let arrival = Arrival {
        at,
        id: payload["data"]["event_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        kind: payload["type"].as_str().unwrap_or_default().to_owned(),
        latency,
    };
    if let Ok(mut arrivals) = received.arrivals.lock() {
        arrivals.push(arrival);
    }
    StatusCode::NO_CONTENT
}

/// Runs the scenario; the processes it started are stopped whatever happens.
pub async fn session(cli: &Cli, sink: &SinkHandle, receiver: &Receiver) -> anyhow::Result<bool> {
    let http = crate::http_client(cli)?;
    let mut stack = None;
    let outcome = tokio::select! {
        outcome = run(cli, sink, receiver, &http, &mut stack) => outcome,
        signal = crate::shutdown_signal() => Err(anyhow!("interrupted by {signal}")),
    };
    crate::stop_stack(stack, "serve.log, sluice.toml, redis/").await;
    outcome
}

#[derive(Debug, Serialize)]
struct WebhookReport {
    scenario: &'static str,
    machine: Machine,
    sluice_version: String,
    dkim: &'static str,
    concurrency: u32,
    content_bytes: usize,
    per_endpoint_in_flight: u32,
    messages_sent: u64,
    messages_accepted: u64,
    errors: u64,
    accept_seconds: f64,
    mails_delivered: u64,
    webhooks_expected: u64,
    webhooks_received: u64,
    unique_webhook_ids: u64,
    /// First request sent → last webhook received.
    seconds: Option<f64>,
    /// Webhooks received ÷ `seconds`.
    webhooks_per_second: Option<f64>,
    /// Webhooks still to come when the last response arrived.
    webhooks_after_sending: u64,
    /// Those ÷ (last response → last webhook): webhook delivery with the API idle.
    drain_per_second: Option<f64>,
    /// Event timestamp → received, in ms.
    latency_ms: Option<Latency>,
    latency_ms_by_type: BTreeMap<String, Latency>,
    /// CPU over the whole run, % of one core.
    cpu_percent: BTreeMap<String, f64>,
}

async fn run(
    cli: &Cli,
    sink: &SinkHandle,
    receiver: &Receiver,
    http: &reqwest::Client,
    slot: &mut Option<Stack>,
) -> anyhow::Result<bool> {
    let machine = Machine::read();
    let config = format!(
        "# Written by sluice-load-tests: relay to the sink, webhooks to a loopback receiver.\n\
         relay_url = \"smtp://{}\"\nwebhook_allow_private = true\n\n[webhooks]\nmax_in_flight_per_endpoint = {}\n",
        sink.local_addr(),
        cli.webhook_in_flight
    );
    eprintln!(
        "starting redis-server and sluice (sink {}, webhook receiver {})",
        sink.local_addr(),
        receiver.addr
    );
    let stack = slot.insert(Stack::start(cli, sink.local_addr(), Some(&config), http).await?);
    if cli.keep_dir {
        eprintln!("logs and redis files in {}", stack.dir().display());
    }
    let mut probe = CpuProbe {
        processes: stack.processes(),
    };
    let api_key = stack
        .provision(http, &cli.from, cli.dkim())
        .await
        .context("provisioning a tenant, an API key and the sending domain")?;
    let url = format!("http://{}/hooks/sluice", receiver.addr);
    let response = http
        .post(format!("{}/v1/webhooks", stack.base_url))
        .bearer_auth(&api_key)
        .json(&json!({ "url": url }))
        .send()
        .await
        .context("POST /v1/webhooks")?;
    if response.status() != reqwest::StatusCode::CREATED {
        bail!(
            "POST /v1/webhooks answered {}: {}",
            response.status(),
            response.text().await.unwrap_or_default()
        );
    }

    let count = cli.messages.unwrap_or(DEFAULT_MESSAGES);
    let payload = Arc::new(Payload::new(&cli.from, cli.size));
    eprintln!(
        "sending {count} messages at concurrency {}; expecting {} webhooks",
        cli.concurrency,
        count * 2
    );
    let watch = DeliveryWatch::start(sink);
    let cpu_start = (probe.snapshot(), Instant::now());
    let result = load::run(
        http,
        LoadPlan {
            urls: vec![format!("{}/v1/messages", stack.base_url)],
            batch: 1,
            api_key,
            concurrency: cli.concurrency,
            limit: Limit::Messages(count),
            stream: cli.stream,
            payload: Arc::clone(&payload),
            recipient: load::example_recipient,
        },
        Arc::new(Progress::default()),
    )
    .await?;
    let received_at_send_end = receiver.received.count() as u64;
    let accepted = result.accepted_count();
    let errors = result.error_count();
    for (kind, e) in &result.errors {
        eprintln!("  {kind}: {} (e.g. {})", e.count, e.sample);
    }
    let expected = accepted * 2;
    let deadline = Instant::now() + cli.drain_timeout;
    while (receiver.received.count() as u64) < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let delivered = watch.finish(accepted, Duration::from_secs(5)).await;
    let cpu_end = (probe.snapshot(), Instant::now());
    probe.processes.clear();
    for problem in stack.exited() {
        eprintln!("warning: {problem}");
    }

    let arrivals = std::mem::take(
        &mut *receiver
            .received
            .arrivals
            .lock()
            .map_err(|_| anyhow!("receiver state poisoned"))?,
    );
    let received = arrivals.len() as u64;
    let unique: HashSet<&str> = arrivals.iter().map(|a| a.id.as_str()).collect();
    let last = arrivals.iter().map(|a| a.at).max();
    let seconds = last.map(|l| l.saturating_duration_since(result.started).as_secs_f64());
    let after_sending = expected.saturating_sub(received_at_send_end);
    let drain_per_second = last.and_then(|l| {
        let secs = l.saturating_duration_since(result.finished).as_secs_f64();
        (after_sending >= 100 && secs >= 0.2).then(|| after_sending as f64 / secs)
    });
    let mut all: Vec<Duration> = arrivals.iter().map(|a| a.latency).collect();
    let mut by_type: BTreeMap<String, Vec<Duration>> = BTreeMap::new();
    for arrival in &arrivals {
        by_type
            .entry(arrival.kind.clone())
            .or_default()
            .push(arrival.latency);
    }
    let cpu = CpuUse::between(&cpu_start.0, &cpu_end.0, cpu_end.1 - cpu_start.1);
    let mut cpu_percent = BTreeMap::new();
    if let Some(cpu) = &cpu {
        for (name, seconds) in &cpu.components_cpu_seconds {
            let name = if name == "smtp sink" {
                "smtp sink + webhook receiver"
            } else {
                name
            };
            cpu_percent.insert(name.to_owned(), cpu.percent_of_core(*seconds));
        }
        cpu_percent.insert(
            "other processes".to_owned(),
            cpu.percent_of_core(cpu.others_cpu_seconds()),
        );
        cpu_percent.insert(
            "whole machine".to_owned(),
            cpu.percent_of_core(cpu.machine_cpu_seconds),
        );
    }
    let report = WebhookReport {
        scenario: "webhooks",
        machine,
        sluice_version: stack.sluice_version.clone(),
        dkim: cli.dkim().algorithm(),
        concurrency: cli.concurrency,
        content_bytes: payload.content_bytes(),
        per_endpoint_in_flight: cli.webhook_in_flight,
        messages_sent: result.requests,
        messages_accepted: accepted,
        errors,
        accept_seconds: result
            .finished
            .saturating_duration_since(result.started)
            .as_secs_f64(),
        mails_delivered: delivered.count,
        webhooks_expected: expected,
        webhooks_received: received,
        unique_webhook_ids: unique.len() as u64,
        seconds,
        webhooks_per_second: seconds.filter(|s| *s > 0.0).map(|s| received as f64 / s),
        webhooks_after_sending: after_sending,
        drain_per_second,
        latency_ms: Latency::of(&mut all),
        latency_ms_by_type: by_type
            .into_iter()
            .filter_map(|(kind, mut samples)| Some((kind, Latency::of(&mut samples)?)))
            .collect(),
        cpu_percent,
    };
    if cli.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.text());
    }
    Ok(errors == 0 && unique.len() as u64 == expected)
}

impl WebhookReport {
    fn text(&self) -> String {
        let mut o = String::new();
        let m = &self.machine;
        let _ = writeln!(
            o,
            "Sluice webhooks scenario (events → one webhook endpoint)"
        );
        let _ = writeln!(
            o,
            "Machine    nproc {} ({} CPUs online) · {} · {:.1} GiB RAM · Linux {} · load avg {:.2} at start",
            m.nproc, m.cpus_online, m.cpu_model, m.memory_gib, m.kernel, m.load_average_1m
        );
        let _ = writeln!(
            o,
            "           load generator, SMTP sink, webhook receiver, sluice serve and redis-server share these {} cores",
            m.nproc
        );
        let _ = writeln!(
            o,
            "Setup      {} · DKIM {} · concurrency {} · {} B content · {} webhook requests in flight per endpoint",
            self.sluice_version,
            self.dkim,
            self.concurrency,
            self.content_bytes,
            self.per_endpoint_in_flight
        );
        let _ = writeln!(
            o,
            "Messages   {}/{} accepted ({} errors) in {:.2} s · {} delivered to the sink",
            self.messages_accepted,
            self.messages_sent,
            self.errors,
            self.accept_seconds,
            self.mails_delivered
        );
        let rate = |r: Option<f64>| r.map_or_else(|| "–".to_owned(), |r| format!("{r:.0}/s"));
        let _ = writeln!(
            o,
            "Webhooks   {}/{} received ({} distinct ids) in {} → {}",
            self.webhooks_received,
            self.webhooks_expected,
            self.unique_webhook_ids,
            self.seconds
                .map_or_else(|| "–".to_owned(), |s| format!("{s:.2} s")),
            rate(self.webhooks_per_second)
        );
        let _ = writeln!(
            o,
            "           {} still to come when sending ended; they arrived at {} with the API idle",
            self.webhooks_after_sending,
            rate(self.drain_per_second)
        );
        let latency = |l: &Latency| {
            format!(
                "p50 {:.1} ms · p90 {:.1} · p99 {:.1} · max {:.1} (n = {})",
                l.p50, l.p90, l.p99, l.max, l.samples
            )
        };
        if let Some(l) = &self.latency_ms {
            let _ = writeln!(o, "Latency    event timestamp → received: {}", latency(l));
        }
        for (kind, l) in &self.latency_ms_by_type {
            let _ = writeln!(o, "           {kind:<19} {}", latency(l));
        }
        if !self.cpu_percent.is_empty() {
            let parts: Vec<String> = self
                .cpu_percent
                .iter()
                .map(|(name, pct)| format!("{name} {pct:.0}%"))
                .collect();
            let _ = writeln!(o, "CPU        {}", parts.join(" · "));
        }
        o
    }
}
