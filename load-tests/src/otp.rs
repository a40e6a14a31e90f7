//! `--scenario otp`: how long a one-time password takes from its 202 to the sink's
//! 250 while a bulk backlog drains. The backlog (`--backlog`, bulk stream, batches
//! of 500) is queued first; then `--otps` transactional messages go out one at a
//! time, one every 20 ms, each to its own recipient (`otp-<n>@example.com`). The
//! sink's [`OtpClock`] notes when each OTP arrived and how many bulk messages had
//! arrived by then.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use reqwest::StatusCode;
use serde::Serialize;
use sluice_smtp_server::{Peer, ReceivedMessage, Reply, SinkBehavior, SinkHandle};

use crate::cli::{Cli, Limit, Stream, StreamMode};
use crate::load::{self, LoadPlan, Progress};
use crate::machine::Machine;
use crate::payload::Payload;
use crate::report::Latency;
use crate::stack::Stack;

/// One OTP every this long.
const OTP_EVERY: Duration = Duration::from_millis(20);
/// Messages per `POST /v1/messages/batch` of the backlog.
const BACKLOG_BATCH: u32 = 500;
/// Batch requests of the backlog in flight at once.
const BACKLOG_CONCURRENCY: u32 = 4;
const OTP_PREFIX: &str = "otp-";

fn otp_recipient(index: u64) -> String {
    format!("{OTP_PREFIX}{index}@example.com")
}

/// Accepts everything; notes each OTP's arrival and counts the rest (the backlog).
#[derive(Default)]
pub struct OtpClock {
    /// OTP recipient → (arrival, backlog messages received before it).
    arrivals: Mutex<HashMap<String, (Instant, u64)>>,
    bulk: AtomicU64,
}

impl SinkBehavior for OtpClock {
    fn data_end(&self, _peer: &Peer, msg: &ReceivedMessage) -> Reply {
        let now = Instant::now();
        match msg.rcpt_to.iter().find(|r| r.starts_with(OTP_PREFIX)) {
            Some(rcpt) => {
                let bulk = self.bulk.load(Ordering::Relaxed);
                lock(&self.arrivals).insert(rcpt.clone(), (now, bulk));
            }
            None => {
                self.bulk.fetch_add(1, Ordering::Relaxed);
            }
        }
        Reply::new(250, format!("2.0.0 Ok: queued as {}", msg.id))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What the OTPs saw, from their 202 times and the sink's arrivals.
#[derive(Debug, Serialize)]
pub struct OtpOutcome {
    pub accepted: u64,
    pub arrived: u64,
    /// Accept (202) → sink 250, ms.
    pub latency_ms: Option<Latency>,
    /// Backlog messages not yet at the sink when the last OTP arrived.
    pub backlog_left_at_last_otp: Option<u64>,
}

/// Pairs each accepted OTP (recipient, time of its 202) with its arrival.
pub fn summarize(
    accepted: &[(String, Instant)],
    arrivals: &HashMap<String, (Instant, u64)>,
    backlog_accepted: u64,
) -> OtpOutcome {
    let mut latencies = Vec::new();
    let mut last: Option<(Instant, u64)> = None;
    for (rcpt, at) in accepted {
        if let Some(&(arrived, bulk)) = arrivals.get(rcpt) {
            latencies.push(arrived.saturating_duration_since(*at));
            if last.is_none_or(|(t, _)| arrived > t) {
                last = Some((arrived, bulk));
            }
        }
    }
    OtpOutcome {
        accepted: accepted.len() as u64,
        arrived: latencies.len() as u64,
        latency_ms: Latency::of(&mut latencies),
        backlog_left_at_last_otp: last.map(|(_, bulk)| backlog_accepted.saturating_sub(bulk)),
    }
}

#[derive(Serialize)]
struct OtpReport {
    scenario: &'static str,
    machine: Machine,
    sluice_version: String,
    dkim: &'static str,
    partitions: u16,
    backlog_requested: u64,
    backlog_accepted: u64,
    backlog_errors: u64,
    backlog_queue_seconds: f64,
    backlog_delivered_before_first_otp: u64,
    otp_errors: u64,
    otp: OtpOutcome,
}

impl OtpReport {
    fn to_text(&self) -> String {
        let mut o = String::new();
        let m = &self.machine;
        let _ = writeln!(
            o,
            "Sluice otp scenario (OTP accept → 250 during a bulk backlog)"
        );
        let _ = writeln!(
            o,
            "Machine    nproc {} ({} CPUs online) · {} · {:.1} GiB RAM · Linux {} · load avg {:.2} at start",
            m.nproc, m.cpus_online, m.cpu_model, m.memory_gib, m.kernel, m.load_average_1m
        );
        let _ = writeln!(
            o,
            "           load generator, SMTP sink, sluice serve and redis-server share these {} cores",
            m.nproc
        );
        let _ = writeln!(
            o,
            "Setup      {} · DKIM {} · {} partition(s) · relay to the in-process sink",
            self.sluice_version, self.dkim, self.partitions
        );
        let _ = writeln!(
            o,
            "Backlog    {} bulk requested · {} accepted ({} errors) in {:.1}s (batches of {BACKLOG_BATCH}) · {} delivered before the first OTP",
            self.backlog_requested,
            self.backlog_accepted,
            self.backlog_errors,
            self.backlog_queue_seconds,
            self.backlog_delivered_before_first_otp
        );
        let t = &self.otp;
        let _ = writeln!(
            o,
            "OTPs       {} accepted ({} errors), one every {} ms · {} arrived",
            t.accepted,
            self.otp_errors,
            OTP_EVERY.as_millis(),
            t.arrived
        );
        match &t.latency_ms {
            Some(l) => {
                let _ = writeln!(
                    o,
                    "           accept → 250: p50 {:.1} ms · p90 {:.1} ms · p99 {:.1} ms · max {:.1} ms",
                    l.p50, l.p90, l.p99, l.max
                );
            }
            None => o.push_str("           accept → 250: no OTP arrived\n"),
        }
        if let Some(left) = t.backlog_left_at_last_otp {
            let _ = writeln!(
                o,
                "           backlog still queued when the last OTP arrived: {left} of {}",
                self.backlog_accepted
            );
        }
        o
    }
}

/// Runs the scenario; the processes it started are stopped whatever happens.
pub async fn session(cli: &Cli, sink: &SinkHandle, clock: &OtpClock) -> anyhow::Result<bool> {
    let http = crate::http_client(cli)?;
    let mut stack = None;
    let outcome = tokio::select! {
        outcome = run(cli, sink, clock, &http, &mut stack) => outcome,
        signal = crate::shutdown_signal() => Err(anyhow!("interrupted by {signal}")),
    };
    crate::stop_stack(stack, "serve.log, redis/").await;
    outcome
}

async fn run(
    cli: &Cli,
    sink: &SinkHandle,
    clock: &OtpClock,
    http: &reqwest::Client,
    slot: &mut Option<Stack>,
) -> anyhow::Result<bool> {
    let machine = Machine::read();
    eprintln!(
        "starting redis-server and sluice (sink on {})",
        sink.local_addr()
    );
    let stack = slot.insert(Stack::start(cli, sink.local_addr(), None, http).await?);
    if cli.keep_dir {
        eprintln!("logs and redis files in {}", stack.dir().display());
    }
    let api_key = stack
        .provision(http, &cli.from, cli.dkim())
        .await
        .context("provisioning a tenant, an API key and the sending domain")?;
    let payload = Arc::new(Payload::new(&cli.from, cli.size));

    eprintln!("queueing a backlog of {} bulk messages", cli.backlog);
    let backlog = load::run(
        http,
        LoadPlan {
            urls: vec![format!("{}/v1/messages/batch", stack.base_url)],
            batch: BACKLOG_BATCH,
            api_key: api_key.clone(),
            concurrency: BACKLOG_CONCURRENCY,
            limit: Limit::Messages(cli.backlog),
            stream: StreamMode::Bulk,
            payload: Arc::clone(&payload),
            recipient: load::example_recipient,
        },
        Arc::new(Progress::default()),
    )
    .await?;
    for (kind, e) in &backlog.errors {
        eprintln!("  backlog {kind}: {} (e.g. {})", e.count, e.sample);
    }
    let backlog_accepted = backlog.accepted_count();
    let delivered_before = clock.bulk.load(Ordering::Relaxed);

    eprintln!(
        "sending {} OTPs, one every {} ms",
        cli.otps,
        OTP_EVERY.as_millis()
    );
    let url = format!("{}/v1/messages", stack.base_url);
    let mut accepted = Vec::new();
    let mut otp_errors = 0u64;
    let mut tick = tokio::time::interval(OTP_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for n in 0..cli.otps {
        tick.tick().await;
        let rcpt = otp_recipient(n);
        let response = http
            .post(&url)
            .bearer_auth(&api_key)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(payload.body(n, &rcpt, Stream::Transactional)?)
            .send()
            .await;
        match response {
            Ok(r) if r.status() == StatusCode::ACCEPTED => {
                let _ = r.bytes().await;
                accepted.push((rcpt, Instant::now()));
            }
            Ok(r) => {
                otp_errors += 1;
                let status = r.status();
                if otp_errors == 1 {
                    eprintln!(
                        "  OTP answered {status}: {}",
                        r.text().await.unwrap_or_default()
                    );
                }
            }
            Err(e) => {
                otp_errors += 1;
                if otp_errors == 1 {
                    eprintln!("  OTP request failed: {e}");
                }
            }
        }
    }

    let deadline = Instant::now() + cli.drain_timeout;
    while (lock(&clock.arrivals).len() as u64) < accepted.len() as u64 && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let otp = summarize(&accepted, &lock(&clock.arrivals), backlog_accepted);
    for problem in stack.exited() {
        eprintln!("warning: {problem}");
    }
    let ok = otp_errors == 0
        && backlog.error_count() == 0
        && otp.accepted > 0
        && otp.arrived == otp.accepted;
    let report = OtpReport {
        scenario: "otp",
        machine,
        sluice_version: stack.sluice_version.clone(),
        dkim: cli.dkim().algorithm(),
        partitions: cli.partitions(),
        backlog_requested: cli.backlog,
        backlog_accepted,
        backlog_errors: backlog.error_count(),
        backlog_queue_seconds: backlog
            .finished
            .saturating_duration_since(backlog.started)
            .as_secs_f64(),
        backlog_delivered_before_first_otp: delivered_before,
        otp_errors,
        otp,
    };
    if cli.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.to_text());
    }
    Ok(ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_accepts_with_arrivals() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let accepted = vec![
            (otp_recipient(0), t0),
            (otp_recipient(1), t0 + ms(20)),
            (otp_recipient(2), t0 + ms(40)),
        ];
        let arrivals = HashMap::from([
            (otp_recipient(0), (t0 + ms(100), 10)),
            // Arrived last, though sent second: its backlog count is the one reported.
            (otp_recipient(1), (t0 + ms(320), 70)),
            (otp_recipient(2), (t0 + ms(90), 50)),
        ]);
        let out = summarize(&accepted, &arrivals, 1000);
        assert_eq!((out.accepted, out.arrived), (3, 3));
        let l = out.latency_ms.expect("latencies");
        assert!((l.p50 - 100.0).abs() < 1e-6 && (l.max - 300.0).abs() < 1e-6);
        assert_eq!(out.backlog_left_at_last_otp, Some(930));

        let out = summarize(&accepted, &HashMap::new(), 1000);
        assert_eq!((out.arrived, out.backlog_left_at_last_otp), (0, None));
        assert!(out.latency_ms.is_none());
    }
}
