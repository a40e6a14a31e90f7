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

mod isolation;
mod rate_limit;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use anyhow::{Context, anyhow};
use serde::Serialize;
use sluice_smtp_server::{Peer, Reply, SinkBehavior, SinkConfig, SinkHandle, SmtpSink};
use sluice_test_dns::DnsFixture;

use crate::cli::{Cli, Scenario, StreamMode};
use crate::load::{self, LoadPlan, LoadResult, Progress};
use crate::machine::Machine;
use crate::payload::Payload;
use crate::stack::Stack;

/// Where the black-holed MX host lives (same port as the healthy sink).
const SILENT_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 5);
/// How long Sluice waits for the black hole's greeting: long, so its connections stay
/// tied up for the whole measurement.
const GREETING_TIMEOUT: &str = "60s";

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
        Scenario::Isolation => isolation::run(&ctx, setup, sink, fixtures).await?,
        _ => rate_limit::run(&ctx, setup, sink).await?,
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
                urls: vec![self.url.clone()],
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

#[cfg(test)]
mod tests {
    use super::*;

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
            std::time::Duration::from_secs(60)
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
