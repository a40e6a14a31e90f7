//! `sluice-load-tests`: a load generator for Sluice. See `--help` and README.md.
//!
//! Two tokio runtimes run in this process: one for the HTTP client (threads named
//! `lt-client`) and one for the SMTP sink (`lt-sink`), so the CPU each uses can be
//! told apart in the report.

mod cli;
mod commands;
mod delivery;
mod load;
mod machine;
mod nodes;
mod otp;
mod payload;
mod report;
mod scenarios;
mod stack;
mod webhooks;

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use clap::Parser;
use sluice_smtp_server::{SinkConfig, SinkHandle, SmtpSink};

use crate::cli::{Cli, Limit, Scenario, Stream};
use crate::delivery::DeliveryWatch;
use crate::load::{LoadPlan, Progress};
use crate::machine::{CpuProbe, CpuUse, Machine};
use crate::nodes::NodeReport;
use crate::payload::Payload;
use crate::report::{Accept, Cpu, Delivery, Latency, Report, Setup};
use crate::stack::Stack;

/// Name prefix of the sink runtime's threads (see [`machine::CpuProbe`]).
pub const SINK_THREAD: &str = "lt-sink";
const CLIENT_THREAD: &str = "lt-client";
/// Below these, the drain after sending is reported but not rated.
const MIN_DRAIN_MESSAGES: u64 = 100;
const MIN_DRAIN_TIME: Duration = Duration::from_millis(200);

fn main() -> ExitCode {
    // reqwest is built without a TLS provider in this workspace: ring it is.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    match run(&cli) {
        Ok(true) => ExitCode::SUCCESS,
        // The report is printed; errors or missing deliveries make the exit status 2.
        Ok(false) => ExitCode::from(2),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> anyhow::Result<bool> {
    cli.validate()?;
    if cfg!(debug_assertions) {
        eprintln!(
            "warning: this load generator is a debug build; use `cargo build --release -p sluice-load-tests`"
        );
    }
    let sink_runtime = tokio::runtime::Builder::new_multi_thread()
        .thread_name(SINK_THREAD)
        .enable_all()
        .build()
        .context("starting the sink runtime")?;
    let client_runtime = tokio::runtime::Builder::new_multi_thread()
        .thread_name(CLIENT_THREAD)
        .enable_all()
        .build()
        .context("starting the client runtime")?;
    let listen = cli.sink_listen.unwrap_or_else(|| {
        let port = if cli.self_contained() { 0 } else { 2525 };
        SocketAddr::from(([127, 0, 0, 1], port))
    });
    let clock = Arc::new(otp::OtpClock::default());
    let behavior: Arc<dyn sluice_smtp_server::SinkBehavior> = if cli.scenario == Scenario::Otp {
        clock.clone()
    } else {
        Arc::new(sluice_smtp_server::AcceptAll)
    };
    let sink = sink_runtime
        .block_on(SmtpSink::start(SinkConfig {
            listen,
            hostname: "sink.load.test".to_owned(),
            // The rate-limit scenario reads every message's receive time.
            keep_in_memory: cli.scenario == Scenario::RateLimit,
            behavior,
            ..SinkConfig::default()
        }))
        .with_context(|| format!("starting the SMTP sink on {listen}"))?;
    let outcome = if cli.scenario == Scenario::Load {
        client_runtime.block_on(session(cli, &sink))
    } else if cli.scenario == Scenario::Otp {
        client_runtime.block_on(otp::session(cli, &sink, &clock))
    } else if cli.scenario == Scenario::Webhooks {
        // The receiver runs on the sink's runtime, apart from the load generator.
        match sink_runtime.block_on(webhooks::Receiver::start()) {
            Ok(receiver) => {
                let outcome = client_runtime.block_on(webhooks::session(cli, &sink, &receiver));
                receiver.shutdown();
                outcome
            }
            Err(e) => Err(e),
        }
    } else {
        // The silent MX and the DNS server run on the sink's runtime too.
        match sink_runtime.block_on(scenarios::Fixtures::start(&sink)) {
            Ok(fixtures) => {
                let outcome = client_runtime.block_on(scenarios::session(cli, &sink, &fixtures));
                sink_runtime.block_on(fixtures.shutdown());
                outcome
            }
            Err(e) => Err(e),
        }
    };
    sink_runtime.block_on(sink.shutdown());
    outcome
}

/// Runs the scenario; whatever happens (error, Ctrl-C, SIGTERM), the processes it
/// started are stopped before returning.
async fn session(cli: &Cli, sink: &SinkHandle) -> anyhow::Result<bool> {
    let http = http_client(cli)?;
    let mut stack = None;
    let outcome = tokio::select! {
        outcome = scenario(cli, sink, &http, &mut stack) => outcome,
        signal = shutdown_signal() => Err(anyhow!("interrupted by {signal}")),
    };
    stop_stack(stack, "the sluice processes' *.log, redis/").await;
    outcome
}

/// One keep-alive client for the whole run, sized to the concurrency.
pub(crate) fn http_client(cli: &Cli) -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .http1_only()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(cli.concurrency as usize)
        .pool_idle_timeout(Duration::from_secs(90))
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(60))
        .build()
        .context("building the HTTP client")
}

/// Stops the processes a run started (if it got that far), saying where the kept
/// files are when `--keep-dir` was given.
pub(crate) async fn stop_stack(stack: Option<Stack>, kept: &str) {
    if let Some(stack) = stack {
        eprintln!("stopping sluice and redis-server");
        if let Some(dir) = stack.stop().await {
            eprintln!("kept {} ({kept})", dir.display());
        }
    }
}

async fn scenario(
    cli: &Cli,
    sink: &SinkHandle,
    http: &reqwest::Client,
    slot: &mut Option<Stack>,
) -> anyhow::Result<bool> {
    let machine = Machine::read();
    let mut probe = CpuProbe::default();
    let (base_urls, api_key, note) = match (&cli.target, &cli.api_key) {
        (Some(target), Some(key)) => {
            let base = target.trim_end_matches('/').to_owned();
            check_ready(http, &base).await?;
            let note = format!(
                "load generator and SMTP sink ({}) in this process; the server at {base} is measured from outside (its CPU is part of \"other processes\")",
                sink.local_addr()
            );
            (vec![base], key.clone(), note)
        }
        _ => {
            eprintln!(
                "starting {} and sluice (sink on {})",
                if cli.cluster {
                    "a Redis Cluster"
                } else {
                    "redis-server"
                },
                sink.local_addr()
            );
            let stack = slot.insert(Stack::start(cli, sink.local_addr(), None, http).await?);
            eprintln!(
                "{} ready at {} ({})",
                stack.sluice_bin.display(),
                stack.base_urls.join(", "),
                stack.roles().join(" + "),
            );
            if cli.keep_dir {
                eprintln!("logs and redis files in {}", stack.dir().display());
            }
            probe.processes = stack.processes();
            let key = stack
                .provision(http, &cli.from, cli.dkim())
                .await
                .context("provisioning a tenant, an API key and the sending domain")?;
            let note = format!(
                "load generator, SMTP sink, sluice and redis-server all share these {} cores",
                machine.nproc
            );
            (stack.base_urls.clone(), key, note)
        }
    };
    let base_url = base_urls[0].clone();
    let masters = slot.as_ref().map(|s| s.masters.clone()).unwrap_or_default();

    let payload = Arc::new(Payload::with_personalization(
        &cli.from,
        cli.size,
        cli.personalize,
    ));
    let limit_text = match cli.limit() {
        Limit::Messages(n) => format!("{n} messages"),
        Limit::Duration(d) => format!("{:.1}s of sending", d.as_secs_f64()),
    };
    eprintln!(
        "sending {limit_text} at concurrency {} to {}",
        cli.concurrency,
        base_urls
            .iter()
            .map(|b| format!("{b}/v1/messages"))
            .collect::<Vec<_>>()
            .join(" and ")
    );
    let nodes_before = nodes::sample_all(&masters).await;
    let commands_before = commands::sample(&masters).await;
    let watch = DeliveryWatch::start(sink);
    let progress = Arc::new(Progress::default());
    let ticker = spawn_progress(Arc::clone(&progress), sink.clone(), watch.baseline);
    let (cpu_start, cpu_start_at) = (probe.snapshot(), Instant::now());
    let result = load::run(
        http,
        LoadPlan {
            urls: base_urls
                .iter()
                .map(|base| {
                    if cli.batch > 1 {
                        format!("{base}/v1/messages/batch")
                    } else {
                        format!("{base}/v1/messages")
                    }
                })
                .collect(),
            batch: cli.batch,
            api_key,
            concurrency: cli.concurrency,
            limit: cli.limit(),
            stream: cli.stream,
            payload: Arc::clone(&payload),
            recipient: load::example_recipient,
        },
        progress,
    )
    .await;
    let delivered_at_send_end = watch.count();
    let (cpu_sent, cpu_sent_at) = (probe.snapshot(), Instant::now());
    if let Some(ticker) = ticker {
        ticker.abort();
    }
    // The queue at its largest (its SCAN costs redis CPU of the draining phase).
    let nodes_sent = nodes::sample_all(&masters).await;
    let mut result = result?;

    let accepted = result.accepted_count();
    let errors = result.error_count();
    if accepted > delivered_at_send_end {
        let hint = if cli.self_contained() {
            String::new()
        } else {
            format!(
                " (the server must relay to this sink: SLUICE_RELAY_URL=smtp://{})",
                sink.local_addr()
            )
        };
        eprintln!(
            "sent: {accepted} accepted, {errors} errors; waiting up to {}s for {} more deliveries{hint}",
            cli.drain_timeout.as_secs(),
            accepted - delivered_at_send_end
        );
    }
    // With --queue-only nothing delivers: the queue is what is measured.
    let drain_timeout = if cli.queue_only {
        Duration::ZERO
    } else {
        cli.drain_timeout
    };
    let delivered = watch.finish(accepted, drain_timeout).await;
    let (cpu_drained, cpu_drained_at) = (probe.snapshot(), Instant::now());
    if let Some(stack) = slot.as_mut() {
        for problem in stack.exited() {
            eprintln!("warning: {problem}");
        }
    }
    let commands_after = commands::sample(&masters).await;
    let nodes_after = nodes::sample_all(&masters).await;
    let redis_nodes: Vec<NodeReport> = masters
        .iter()
        .zip(nodes_before.into_iter().zip(nodes_sent).zip(nodes_after))
        .map(|(master, ((before, sent), after))| NodeReport::new(master, before, sent, after))
        .collect();

    // Accept numbers.
    let wall = result.finished.saturating_duration_since(result.started);
    let mut all: Vec<Duration> = result.accepted.values().flatten().copied().collect();
    let by_stream: BTreeMap<&'static str, Latency> = if result.accepted.len() > 1 {
        result
            .accepted
            .iter_mut()
            .filter_map(|(stream, samples)| Some((*stream, Latency::of(samples)?)))
            .collect()
    } else {
        BTreeMap::new()
    };
    let accept = Accept {
        requests: result.requests,
        accepted,
        errors,
        errors_by_kind: result.errors.clone(),
        wall_seconds: wall.as_secs_f64(),
        accepted_per_second: per_second(accepted, wall).unwrap_or(0.0),
        latency_ms: Latency::of(&mut all),
        latency_ms_by_stream: by_stream,
    };

    // Delivery numbers.
    let complete =
        accepted == 0 || (delivered.completed_at.is_some() && delivered.count >= accepted);
    let last_delivery = delivered.completed_at.or(delivered.last_change);
    let window = match (result.first_accept, last_delivery) {
        (Some(first), Some(last)) => Some(last.saturating_duration_since(first)),
        _ => None,
    };
    let drain_messages = accepted.saturating_sub(delivered_at_send_end);
    let drain = match last_delivery {
        Some(last) if drain_messages > 0 => Some(last.saturating_duration_since(result.finished)),
        _ => None,
    };
    // A drain of a handful of messages over a few milliseconds has no meaningful
    // rate (and CPU times are counted in 10 ms ticks).
    let rate_drain =
        drain_messages >= MIN_DRAIN_MESSAGES && drain.is_some_and(|d| d >= MIN_DRAIN_TIME);
    let drained = delivered
        .count
        .min(accepted)
        .saturating_sub(delivered_at_send_end);
    let delivery = Delivery {
        expected: accepted,
        delivered: delivered.count,
        complete,
        delivered_when_sending_stopped: delivered_at_send_end,
        window_seconds: window.map(|w| w.as_secs_f64()),
        delivered_per_second: window.and_then(|w| per_second(delivered.count.min(accepted), w)),
        drain_messages,
        drain_seconds: drain.map(|d| d.as_secs_f64()),
        drain_per_second: drain
            .filter(|_| rate_drain)
            .and_then(|d| per_second(drained, d)),
        drain_timeout_seconds: cli.drain_timeout.as_secs_f64(),
    };

    let cpu = Cpu::new(
        CpuUse::between(&cpu_start, &cpu_sent, cpu_sent_at - cpu_start_at),
        if rate_drain {
            CpuUse::between(&cpu_sent, &cpu_drained, cpu_drained_at - cpu_sent_at)
        } else {
            None
        },
        delivered.count.min(accepted),
    );
    let (sluice_version, redis_version, server_roles, redis_topology) = match slot.as_ref() {
        Some(stack) => (
            Some(stack.sluice_version.clone()).filter(|v| !v.is_empty()),
            Some(stack.redis_version.clone()).filter(|v| !v.is_empty()),
            stack.roles(),
            Some(stack.redis_topology.clone()),
        ),
        None => (None, None, Vec::new(), None),
    };
    let report = Report {
        mode: if cli.self_contained() {
            "self-contained"
        } else {
            "target"
        },
        machine,
        note,
        setup: Setup {
            target: base_url,
            targets: base_urls,
            concurrency: cli.concurrency,
            batch: cli.batch,
            limit: limit_text,
            stream: cli.stream.as_str(),
            content_bytes: payload.content_bytes(),
            message_bytes: payload.body(0, "someone@example.test", Stream::Bulk)?.len(),
            queue_only: cli.queue_only,
            dkim: cli.self_contained().then(|| cli.dkim().algorithm()),
            server_workers: cli.workers,
            server_roles,
            partitions: cli.self_contained().then(|| cli.partitions()),
            redis_topology,
            sluice_version,
            redis_version,
            client_build: if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            },
        },
        accept,
        delivery,
        cpu,
        redis_nodes,
        redis_calls: match (commands_before, commands_after) {
            (Some(before), Some(after)) => {
                commands::PerMessage::between(&before, &after, delivered.count.min(accepted))
            }
            _ => None,
        },
    };
    if cli.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.to_text());
    }
    Ok(errors == 0 && accepted > 0 && (complete || cli.queue_only))
}

fn per_second(count: u64, over: Duration) -> Option<f64> {
    let secs = over.as_secs_f64();
    (secs > 0.0).then(|| count as f64 / secs)
}

async fn check_ready(http: &reqwest::Client, base: &str) -> anyhow::Result<()> {
    let url = format!("{base}/readyz");
    let response = http
        .get(&url)
        .send()
        .await
        .with_context(|| format!("GET {url}: is Sluice running there?"))?;
    if !response.status().is_success() {
        anyhow::bail!("GET {url} answered {}", response.status());
    }
    Ok(())
}

/// Progress lines on stderr every two seconds, when stderr is a terminal.
fn spawn_progress(
    progress: Arc<Progress>,
    sink: SinkHandle,
    baseline: u64,
) -> Option<tokio::task::JoinHandle<()>> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let started = Instant::now();
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(2));
        tick.tick().await;
        loop {
            tick.tick().await;
            let done = progress.done.load(Ordering::Relaxed);
            let accepted = progress.accepted.load(Ordering::Relaxed);
            eprintln!(
                "  {:>5.1}s  {done} sent · {accepted} accepted · {} delivered",
                started.elapsed().as_secs_f64(),
                sink.count().saturating_sub(baseline)
            );
        }
    }))
}

/// Resolves on Ctrl-C or SIGTERM with the signal's name.
pub async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(term) => term,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return "Ctrl-C";
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => "Ctrl-C",
            _ = term.recv() => "SIGTERM",
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}
