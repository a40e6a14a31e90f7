//! The direct-MX scenarios (`--scenario isolation` and `--scenario rate-limit`).
//!
//! Sluice delivers without a relay: it looks up MX records at a DNS server running in
//! this process ([`DnsFixture`]) and connects to `delivery.mx_port` of the address the
//! MX host resolves to.
//!
//! - `healthy.test` → MX `mx.healthy.test` → 127.0.0.1, the fast sink,
//! - `blackhole.test` → MX `mx.blackhole.test` → 127.0.0.5, a sink on the same port
//!   that accepts TCP and never sends its greeting.
//!
//! One `mx_port` serves both because the two sinks listen on different loopback
//! addresses with the same port.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, anyhow, bail};
use serde::Serialize;
use sluice_dns_fixture::DnsFixture;
use sluice_smtp_sink::{Peer, Reply, SinkBehavior, SinkConfig, SinkHandle, SmtpSink};

use crate::cli::{Cli, Scenario, StreamMode};
use crate::delivery::DeliveryWatch;
use crate::load::{self, LoadPlan, LoadResult, Progress};
use crate::machine::Machine;
use crate::payload::Payload;
use crate::stack::Stack;

/// Where the black-holed MX host lives (same port as the healthy sink).
const SILENT_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 5);
/// How long Sluice waits for the black hole's greeting: long, so its connections stay
/// tied up for the whole measurement.
const GREETING_TIMEOUT: &str = "60s";
/// Healthy messages per phase of the isolation scenario unless `--messages`.
const ISOLATION_MESSAGES: u64 = 4_000;
/// Observation window of the rate-limit scenario unless `--duration`.
const RATE_WINDOW: Duration = Duration::from_secs(90);
/// Deliveries in the first seconds after the first one belong to the burst; the
/// steady rate is measured after this.
const RATE_SETTLE: Duration = Duration::from_secs(5);

/// Accepts TCP and never greets.
struct Silent;

impl SinkBehavior for Silent {
    fn greeting(&self, _peer: &Peer) -> Reply {
        Reply::hang()
    }
}

/// The silent MX and the DNS server (the healthy sink is the caller's).
pub struct Fixtures {
    dns: DnsFixture,
    silent: SinkHandle,
}

impl Fixtures {
    /// Must run on the runtime that keeps serving them (the sink runtime).
    pub async fn start(healthy: &SinkHandle) -> anyhow::Result<Self> {
        let port = healthy.local_addr().port();
        let listen = SocketAddr::from((SILENT_IP, port));
        let silent = SmtpSink::start(SinkConfig {
            listen,
            hostname: "mx.blackhole.test".to_owned(),
            keep_in_memory: false,
            behavior: Arc::new(Silent),
            ..SinkConfig::default()
        })
        .await
        .with_context(|| format!("starting the silent sink on {listen}"))?;
        let dns = DnsFixture::start()
            .await
            .context("starting the DNS fixture")?;
        // Real MX records live for minutes; TTL 0 would make every pass a DNS query.
        dns.set_ttl(300);
        dns.set_mx("healthy.test", &[(10, "mx.healthy.test")]);
        dns.set_a("mx.healthy.test", &[Ipv4Addr::LOCALHOST]);
        dns.set_mx("blackhole.test", &[(10, "mx.blackhole.test")]);
        dns.set_a("mx.blackhole.test", &[SILENT_IP]);
        Ok(Self { dns, silent })
    }

    pub async fn shutdown(self) {
        self.silent.shutdown().await;
        self.dns.shutdown().await;
    }
}

/// Limits of the `healthy` provider (`*.healthy.test`).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct HealthyLimits {
    pub max_connections_per_ip: u32,
    pub messages_per_connection: u32,
    pub messages_per_minute_per_ip: u32,
    pub messages_per_hour_per_ip: u32,
}

impl HealthyLimits {
    /// High enough that only the server's own speed limits delivery.
    pub const UNTHROTTLED: Self = Self {
        max_connections_per_ip: 64,
        messages_per_connection: 100,
        messages_per_minute_per_ip: 1_000_000,
        messages_per_hour_per_ip: 1_000_000_000,
    };
}

/// The server's configuration file: direct MX delivery (no `relay_url`) through the
/// DNS fixture to `mx_port`, and the `healthy` provider. `blackhole.test` gets a
/// provider rule with `blackhole_connections` connections and no rate limit, or
/// none (then the built-in default limits apply).
pub fn direct_mx_config(
    mx_port: u16,
    dns: SocketAddr,
    healthy: &HealthyLimits,
    blackhole_connections: Option<u32>,
) -> String {
    let mut text = format!(
        r#"# Written by sluice-load-tests: direct MX delivery on loopback.
[delivery]
mx_port = {mx_port}
dns_servers = ["{dns}"]
connect_timeout = "10s"
greeting_timeout = "{GREETING_TIMEOUT}"

[[delivery.providers]]
name = "healthy"
mx_patterns = ["*.healthy.test"]
max_connections_per_ip = {}
messages_per_connection = {}
messages_per_minute_per_ip = {}
messages_per_hour_per_ip = {}
"#,
        healthy.max_connections_per_ip,
        healthy.messages_per_connection,
        healthy.messages_per_minute_per_ip,
        healthy.messages_per_hour_per_ip,
    );
    if let Some(connections) = blackhole_connections {
        let _ = write!(
            text,
            r#"
[[delivery.providers]]
name = "blackhole"
mx_patterns = ["*.blackhole.test"]
max_connections_per_ip = {connections}
messages_per_connection = 100
messages_per_minute_per_ip = 1000000
messages_per_hour_per_ip = 1000000000
"#
        );
    }
    text
}

/// `user<index>@healthy.test`.
fn healthy_recipient(index: u64) -> String {
    format!("user{index}@healthy.test")
}

/// Whether the `index`-th message of phase B goes to the black hole: every fifth, so
/// `n + n/4` messages hold exactly `n` healthy ones.
pub fn is_blackholed(index: u64) -> bool {
    index % 5 == 4
}

/// Phase B: four healthy messages, then one to `blackhole.test`, and so on.
fn mixed_recipient(index: u64) -> String {
    if is_blackholed(index) {
        format!("user{index}@blackhole.test")
    } else {
        healthy_recipient(index)
    }
}

/// Runs the scenario; the processes it started are stopped whatever happens.
pub async fn session(cli: &Cli, sink: &SinkHandle, fixtures: &Fixtures) -> anyhow::Result<bool> {
    let http = crate::http_client(cli)?;
    let mut stack = None;
    let outcome = tokio::select! {
        outcome = run(cli, sink, fixtures, &http, &mut stack) => outcome,
        signal = crate::shutdown_signal() => Err(anyhow!("interrupted by {signal}")),
    };
    crate::stop_stack(stack, "serve.log, sluice.toml, redis/").await;
    outcome
}

async fn run(
    cli: &Cli,
    sink: &SinkHandle,
    fixtures: &Fixtures,
    http: &reqwest::Client,
    slot: &mut Option<Stack>,
) -> anyhow::Result<bool> {
    let machine = Machine::read();
    let limits = match cli.scenario {
        Scenario::RateLimit => HealthyLimits {
            messages_per_minute_per_ip: cli.rate_limit,
            ..HealthyLimits::UNTHROTTLED
        },
        _ => HealthyLimits::UNTHROTTLED,
    };
    let blackhole_connections = match cli.scenario {
        Scenario::Isolation => cli.blackhole_connections,
        _ => None,
    };
    let config = direct_mx_config(
        sink.local_addr().port(),
        fixtures.dns.addr(),
        &limits,
        blackhole_connections,
    );
    eprintln!(
        "starting redis-server and sluice (direct MX: DNS {}, sinks {} and {})",
        fixtures.dns.addr(),
        sink.local_addr(),
        fixtures.silent.local_addr()
    );
    let stack = slot.insert(Stack::start(cli, sink.local_addr(), Some(&config), http).await?);
    if cli.keep_dir {
        eprintln!("logs and redis files in {}", stack.dir().display());
    }
    let api_key = stack
        .provision(http, &cli.from, cli.dkim())
        .await
        .context("provisioning a tenant, an API key and the sending domain")?;
    let ctx = Ctx {
        cli,
        http,
        url: format!("{}/v1/messages", stack.base_url),
        api_key,
        payload: Arc::new(Payload::new(&cli.from, cli.size)),
    };
    let setup = Setup {
        scenario: match cli.scenario {
            Scenario::Isolation => "isolation",
            _ => "rate-limit",
        },
        machine,
        dkim: cli.dkim().algorithm(),
        concurrency: cli.concurrency,
        content_bytes: ctx.payload.content_bytes(),
        server_workers: cli.workers,
        healthy_limits: limits,
        sluice_version: stack.sluice_version.clone(),
    };
    let ok = match cli.scenario {
        Scenario::Isolation => isolation(&ctx, setup, sink, fixtures).await?,
        _ => rate_limit(&ctx, setup, sink).await?,
    };
    for problem in stack.exited() {
        eprintln!("warning: {problem}");
    }
    Ok(ok)
}

struct Ctx<'a> {
    cli: &'a Cli,
    http: &'a reqwest::Client,
    url: String,
    api_key: String,
    payload: Arc<Payload>,
}

impl Ctx<'_> {
    async fn send(&self, count: u64, recipient: fn(u64) -> String) -> anyhow::Result<LoadResult> {
        load::run(
            self.http,
            LoadPlan {
                url: self.url.clone(),
                batch: 1,
                api_key: self.api_key.clone(),
                concurrency: self.cli.concurrency,
                limit: crate::cli::Limit::Messages(count),
                stream: StreamMode::Transactional,
                payload: Arc::clone(&self.payload),
                recipient,
            },
            Arc::new(Progress::default()),
        )
        .await
    }
}

#[derive(Debug, Serialize)]
struct Setup {
    scenario: &'static str,
    machine: Machine,
    dkim: &'static str,
    concurrency: u32,
    content_bytes: usize,
    /// SLUICE_WORKERS, if set.
    server_workers: Option<u32>,
    healthy_limits: HealthyLimits,
    sluice_version: String,
}

impl Setup {
    fn text(&self, o: &mut String) {
        let m = &self.machine;
        let _ = writeln!(o, "Sluice {} scenario (direct MX delivery)", self.scenario);
        let _ = writeln!(
            o,
            "Machine    nproc {} ({} CPUs online) · {} · {:.1} GiB RAM · Linux {} · load avg {:.2} at start",
            m.nproc, m.cpus_online, m.cpu_model, m.memory_gib, m.kernel, m.load_average_1m
        );
        let _ = writeln!(
            o,
            "           load generator, sinks, DNS server, sluice serve and redis-server share these {} cores",
            m.nproc
        );
        let workers = self
            .server_workers
            .map_or_else(|| "server default".to_owned(), |w| w.to_string());
        let _ = writeln!(
            o,
            "Setup      {} · DKIM {} · concurrency {} · {} B content · workers {workers}",
            self.sluice_version, self.dkim, self.concurrency, self.content_bytes
        );
        let l = &self.healthy_limits;
        let _ = writeln!(
            o,
            "           provider healthy (*.healthy.test → 127.0.0.1): {} connections/IP, {} messages/connection, {}/min, {}/h",
            l.max_connections_per_ip,
            l.messages_per_connection,
            l.messages_per_minute_per_ip,
            l.messages_per_hour_per_ip
        );
    }
}

// ---------------------------------------------------------------------------------
// Isolation

#[derive(Debug, Serialize)]
struct Phase {
    /// Messages sent in this phase (healthy and black-holed).
    sent: u64,
    accepted: u64,
    errors: u64,
    healthy_expected: u64,
    healthy_delivered: u64,
    /// First request sent → last healthy delivery.
    seconds: Option<f64>,
    healthy_per_second: Option<f64>,
    accept_seconds: f64,
    /// Healthy messages delivered when the last response arrived.
    healthy_at_send_end: u64,
    /// The rest ÷ (last response → last healthy delivery): delivery with the API idle.
    drain_per_second: Option<f64>,
}

#[derive(Debug, Serialize)]
struct IsolationReport {
    #[serde(flatten)]
    setup: Setup,
    healthy_per_phase: u64,
    blackholed_in_b: u64,
    /// The black hole's provider rule, if any (else the default limits).
    blackhole_connections: Option<u32>,
    greeting_timeout: &'static str,
    phase_a: Phase,
    phase_b: Phase,
    /// Phase B's healthy throughput over phase A's.
    ratio_b_over_a: Option<f64>,
    /// The same for the drain (API idle).
    drain_ratio_b_over_a: Option<f64>,
    /// TCP connections Sluice opened to the silent MX during phase B.
    blackhole_connections_opened: u64,
}

async fn phase(
    ctx: &Ctx<'_>,
    sink: &SinkHandle,
    count: u64,
    healthy: u64,
    recipient: fn(u64) -> String,
) -> anyhow::Result<Phase> {
    let watch = DeliveryWatch::start(sink);
    let result = ctx.send(count, recipient).await?;
    let at_send_end = watch.count();
    let accepted = result.accepted_count();
    let errors = result.error_count();
    for (kind, e) in &result.errors {
        eprintln!("  {kind}: {} (e.g. {})", e.count, e.sample);
    }
    // Without errors every healthy message was accepted; otherwise an upper bound.
    let healthy_expected = if errors == 0 {
        healthy
    } else {
        healthy.min(accepted)
    };
    let delivered = watch.finish(healthy_expected, ctx.cli.drain_timeout).await;
    let seconds = delivered
        .completed_at
        .map(|at| at.saturating_duration_since(result.started).as_secs_f64());
    let drain_per_second = delivered.completed_at.and_then(|at| {
        let secs = at.saturating_duration_since(result.finished).as_secs_f64();
        let rest = healthy_expected.saturating_sub(at_send_end);
        (rest >= 100 && secs >= 0.2).then(|| rest as f64 / secs)
    });
    Ok(Phase {
        sent: result.requests,
        accepted,
        errors,
        healthy_expected,
        healthy_delivered: delivered.count,
        seconds,
        healthy_per_second: seconds
            .filter(|s| *s > 0.0)
            .map(|s| healthy_expected as f64 / s),
        accept_seconds: result
            .finished
            .saturating_duration_since(result.started)
            .as_secs_f64(),
        healthy_at_send_end: at_send_end,
        drain_per_second,
    })
}

async fn isolation(
    ctx: &Ctx<'_>,
    setup: Setup,
    sink: &SinkHandle,
    fixtures: &Fixtures,
) -> anyhow::Result<bool> {
    let n = ctx.cli.messages.unwrap_or(ISOLATION_MESSAGES);
    let blackholed = n / 4;
    eprintln!("phase A: {n} messages to healthy.test");
    let a = phase(ctx, sink, n, n, healthy_recipient).await?;
    if a.seconds.is_none() {
        bail!(
            "phase A: only {} of {} healthy messages arrived within {}s",
            a.healthy_delivered,
            a.healthy_expected,
            ctx.cli.drain_timeout.as_secs()
        );
    }
    eprintln!(
        "phase B: {n} messages to healthy.test interleaved with {blackholed} to blackhole.test"
    );
    let connections_before = fixtures.silent.connections_count();
    let b = phase(ctx, sink, n + blackholed, n, mixed_recipient).await?;
    let ratio = match (a.healthy_per_second, b.healthy_per_second) {
        (Some(a), Some(b)) if a > 0.0 => Some(b / a),
        _ => None,
    };
    let drain_ratio = match (a.drain_per_second, b.drain_per_second) {
        (Some(a), Some(b)) if a > 0.0 => Some(b / a),
        _ => None,
    };
    let report = IsolationReport {
        setup,
        drain_ratio_b_over_a: drain_ratio,
        healthy_per_phase: n,
        blackholed_in_b: blackholed,
        blackhole_connections: ctx.cli.blackhole_connections,
        greeting_timeout: GREETING_TIMEOUT,
        blackhole_connections_opened: fixtures
            .silent
            .connections_count()
            .saturating_sub(connections_before),
        ratio_b_over_a: ratio,
        phase_a: a,
        phase_b: b,
    };
    if ctx.cli.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.text());
    }
    let ok = report.phase_a.errors == 0
        && report.phase_b.errors == 0
        && report.phase_b.seconds.is_some();
    Ok(ok)
}

impl IsolationReport {
    fn text(&self) -> String {
        let mut o = String::new();
        self.setup.text(&mut o);
        let rule = self.blackhole_connections.map_or_else(
            || "no provider rule, so the default limits: 2 connections, 60/min".to_owned(),
            |c| format!("provider blackhole: {c} connections/IP, no rate limit"),
        );
        let _ = writeln!(
            o,
            "           blackhole.test → 127.0.0.5 (accepts TCP, never greets; {rule}) · greeting_timeout {}",
            self.greeting_timeout
        );
        let line = |o: &mut String, name: &str, p: &Phase, what: String| {
            let rate = p
                .healthy_per_second
                .map_or_else(|| "incomplete".to_owned(), |r| format!("{r:.0} msg/s"));
            let secs = p
                .seconds
                .map_or_else(|| "-".to_owned(), |s| format!("{s:.2} s"));
            let _ = writeln!(
                o,
                "{name}    {what}: {}/{} accepted ({} errors) in {:.2} s · healthy {}/{} delivered in {secs} → {rate}",
                p.accepted,
                p.sent,
                p.errors,
                p.accept_seconds,
                p.healthy_delivered,
                p.healthy_expected
            );
            let drain = p
                .drain_per_second
                .map_or_else(|| "not rated".to_owned(), |r| format!("{r:.0} msg/s"));
            let _ = writeln!(
                o,
                "           {} healthy delivered when sending ended; the rest drained at {drain} with the API idle",
                p.healthy_at_send_end
            );
        };
        line(
            &mut o,
            "Phase A",
            &self.phase_a,
            format!("{} to healthy.test", self.healthy_per_phase),
        );
        line(
            &mut o,
            "Phase B",
            &self.phase_b,
            format!(
                "{} to healthy.test + {} to blackhole.test",
                self.healthy_per_phase, self.blackholed_in_b
            ),
        );
        let _ = writeln!(
            o,
            "           connections Sluice opened to the black hole in phase B: {}",
            self.blackhole_connections_opened
        );
        let ratio = self.ratio_b_over_a.map_or_else(
            || "-".to_owned(),
            |r| format!("{r:.3} ({:+.1}%)", (r - 1.0) * 100.0),
        );
        let drain = self.drain_ratio_b_over_a.map_or_else(
            || "-".to_owned(),
            |r| format!("{r:.3} ({:+.1}%)", (r - 1.0) * 100.0),
        );
        let _ = writeln!(
            o,
            "Result     healthy throughput B/A = {ratio} · drain (API idle) B/A = {drain}"
        );
        o
    }
}

// ---------------------------------------------------------------------------------
// Rate limit

/// What the receive times say about a per-minute limit.
#[derive(Debug, PartialEq, Serialize)]
pub struct RateStats {
    /// Deliveries within one second of the first one.
    pub first_second: u64,
    /// Deliveries at or after `settle` past the first one.
    pub steady_count: u64,
    /// Seconds from the first to the last of those.
    pub steady_seconds: f64,
    /// `(steady_count - 1) / steady_seconds`, per minute.
    pub steady_per_minute: Option<f64>,
}

/// `times` are seconds after the first delivery (sorted or not, the first is 0).
pub fn rate_stats(times: &[f64], settle: f64) -> RateStats {
    let first_second = times.iter().filter(|t| **t < 1.0).count() as u64;
    let steady: Vec<f64> = times.iter().copied().filter(|t| *t >= settle).collect();
    let lo = steady.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = steady.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let span = if steady.len() >= 2 { hi - lo } else { 0.0 };
    RateStats {
        first_second,
        steady_count: steady.len() as u64,
        steady_seconds: span,
        steady_per_minute: (span > 0.0).then(|| (steady.len() - 1) as f64 / span * 60.0),
    }
}

#[derive(Debug, Serialize)]
struct RateReport {
    #[serde(flatten)]
    setup: Setup,
    configured_per_minute: u32,
    backlog: u64,
    accepted: u64,
    errors: u64,
    accept_seconds: f64,
    /// First request sent → end of observation.
    window_seconds: f64,
    delivered: u64,
    /// First delivery → end of observation.
    after_first_delivery_seconds: Option<f64>,
    /// What GCRA with burst = limit allows in that time: `L + L × t / 60`.
    gcra_allows: Option<f64>,
    settle_seconds: f64,
    #[serde(flatten)]
    stats: Option<RateStats>,
    observed_over_configured: Option<f64>,
}

async fn rate_limit(ctx: &Ctx<'_>, setup: Setup, sink: &SinkHandle) -> anyhow::Result<bool> {
    let limit = ctx.cli.rate_limit;
    let backlog = ctx.cli.messages.unwrap_or(3 * u64::from(limit));
    let window = ctx.cli.duration.unwrap_or(RATE_WINDOW);
    let before = sink.messages().len();
    eprintln!(
        "sending a backlog of {backlog} messages to healthy.test (limit {limit}/min), observing deliveries for {}s",
        window.as_secs_f64()
    );
    let started = Instant::now();
    let result = ctx.send(backlog, healthy_recipient).await?;
    for (kind, e) in &result.errors {
        eprintln!("  {kind}: {} (e.g. {})", e.count, e.sample);
    }
    let end = started + window;
    let mut tick = tokio::time::interval(Duration::from_secs(10));
    tick.tick().await;
    while Instant::now() < end {
        tokio::select! {
            _ = tick.tick() => eprintln!(
                "  {:>4.0}s  {} delivered",
                started.elapsed().as_secs_f64(),
                sink.count()
            ),
            _ = tokio::time::sleep_until(end.into()) => {}
        }
    }
    let observed_until = SystemTime::now();
    let mut received: Vec<SystemTime> = sink
        .messages()
        .into_iter()
        .skip(before)
        .map(|m| m.received_at)
        .filter(|at| *at <= observed_until)
        .collect();
    received.sort();
    let first = received.first().copied();
    let times: Vec<f64> = match first {
        Some(first) => received
            .iter()
            .map(|at| at.duration_since(first).unwrap_or_default().as_secs_f64())
            .collect(),
        None => Vec::new(),
    };
    let after_first = first.map(|f| {
        observed_until
            .duration_since(f)
            .unwrap_or_default()
            .as_secs_f64()
    });
    let stats = (!times.is_empty()).then(|| rate_stats(&times, RATE_SETTLE.as_secs_f64()));
    let observed = stats.as_ref().and_then(|s| s.steady_per_minute);
    let report = RateReport {
        setup,
        configured_per_minute: limit,
        backlog,
        accepted: result.accepted_count(),
        errors: result.error_count(),
        accept_seconds: result
            .finished
            .saturating_duration_since(result.started)
            .as_secs_f64(),
        window_seconds: window.as_secs_f64(),
        delivered: times.len() as u64,
        after_first_delivery_seconds: after_first,
        gcra_allows: after_first.map(|t| f64::from(limit) * (1.0 + t / 60.0)),
        settle_seconds: RATE_SETTLE.as_secs_f64(),
        observed_over_configured: observed.map(|o| o / f64::from(limit)),
        stats,
    };
    if ctx.cli.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.text());
    }
    Ok(report.errors == 0 && observed.is_some())
}

impl RateReport {
    fn text(&self) -> String {
        let mut o = String::new();
        self.setup.text(&mut o);
        let _ = writeln!(
            o,
            "Backlog    {} messages: {} accepted ({} errors) in {:.2} s; deliveries observed for {:.0} s from the first request",
            self.backlog, self.accepted, self.errors, self.accept_seconds, self.window_seconds
        );
        let after = self
            .after_first_delivery_seconds
            .map_or_else(|| "-".to_owned(), |s| format!("{s:.1}"));
        let allows = self
            .gcra_allows
            .map_or_else(|| "-".to_owned(), |a| format!("{a:.0}"));
        let _ = writeln!(
            o,
            "Delivered  {} in the {after} s after the first delivery (GCRA with burst = limit allows {allows})",
            self.delivered
        );
        if let Some(s) = &self.stats {
            let _ = writeln!(
                o,
                "Burst      {} delivered in the first second (configured burst {})",
                s.first_second, self.configured_per_minute
            );
            let observed = s
                .steady_per_minute
                .map_or_else(|| "-".to_owned(), |r| format!("{r:.1}/min"));
            let _ = writeln!(
                o,
                "Steady     {} deliveries from {:.0} s after the first one, over {:.1} s → {observed}",
                s.steady_count, self.settle_seconds, s.steady_seconds
            );
        }
        let ratio = self.observed_over_configured.map_or_else(
            || "-".to_owned(),
            |r| format!("{r:.3} ({:+.1}%)", (r - 1.0) * 100.0),
        );
        let _ = writeln!(
            o,
            "Result     configured {}/min · observed/configured = {ratio}",
            self.configured_per_minute
        );
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_b_mix_holds_n_healthy() {
        for n in [0u64, 1, 3, 4, 10, 4_000, 4_003] {
            let total = n + n / 4;
            let healthy = (0..total).filter(|i| !is_blackholed(*i)).count() as u64;
            assert_eq!(healthy, n, "n = {n}");
        }
        assert_eq!(mixed_recipient(4), "user4@blackhole.test");
        assert_eq!(mixed_recipient(5), "user5@healthy.test");
    }

    #[test]
    fn steady_rate_of_an_even_trickle() {
        // A burst of 120 at t = 0, then one every half second: 120/min.
        let mut times = vec![0.0; 120];
        times.extend((1..=180).map(|k| f64::from(k) * 0.5));
        let s = rate_stats(&times, 5.0);
        assert_eq!(s.first_second, 121);
        assert_eq!(s.steady_count, 171);
        assert_eq!(s.steady_seconds, 85.0);
        let rate = s.steady_per_minute.unwrap_or_default();
        assert!((rate - 120.0).abs() < 1e-9, "{rate}");
        assert_eq!(rate_stats(&[0.0], 5.0).steady_per_minute, None);
    }

    #[test]
    fn config_is_what_sluice_reads() -> anyhow::Result<()> {
        let text = direct_mx_config(
            2525,
            SocketAddr::from(([127, 0, 0, 1], 5353)),
            &HealthyLimits {
                messages_per_minute_per_ip: 120,
                ..HealthyLimits::UNTHROTTLED
            },
            Some(32),
        );
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("sluice.toml");
        std::fs::write(&path, text)?;
        let config = sluice::config::Config::load(Some(&path))?;
        assert_eq!(config.delivery.mx_port, 2525);
        assert_eq!(config.delivery.dns_servers, ["127.0.0.1:5353"]);
        assert_eq!(
            config.delivery.greeting_timeout,
            sluice::config::parse_duration(GREETING_TIMEOUT)?
        );
        let rule = &config.delivery.providers[0];
        assert_eq!(rule.mx_patterns, ["*.healthy.test"]);
        assert_eq!(rule.limits.messages_per_minute_per_ip, 120);
        assert_eq!(rule.limits.max_connections_per_ip, 64);
        let rule = &config.delivery.providers[1];
        assert_eq!(rule.name, "blackhole");
        assert_eq!(rule.limits.max_connections_per_ip, 32);
        Ok(())
    }
}
