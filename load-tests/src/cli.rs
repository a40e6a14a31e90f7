//! Command-line options.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use clap::{Parser, ValueEnum};

/// Drives `POST /v1/messages` at a fixed concurrency against Sluice with a fast SMTP
/// sink behind it, and reports accepted messages/s, accept latency and delivered
/// messages/s.
///
/// Without `--target` it is self-contained: it starts a private redis-server, the
/// sink and `sluice serve` (as a subprocess), provisions a tenant, an API key and the
/// domain `load.test`, runs the load and stops everything again. With `--cluster` it
/// starts a Redis Cluster of 3 masters, two `sluice api` and two `sluice worker`.
///
/// With `--target` it drives an already-running Sluice whose relay
/// (SLUICE_RELAY_URL) points at this tool's sink (`--sink-listen`).
#[derive(Parser, Debug)]
#[command(name = "sluice-load-tests", version, verbatim_doc_comment)]
pub struct Cli {
    /// Base URL of a running Sluice (e.g. http://127.0.0.1:8080). Omit for the
    /// self-contained mode.
    #[arg(long, requires = "api_key")]
    pub target: Option<String>,

    /// API key with the `send` scope (only with --target).
    #[arg(long, requires = "target")]
    pub api_key: Option<String>,

    /// Sender of every message; its domain must belong to the key's tenant
    /// (self-contained mode creates `load.test`).
    #[arg(long, default_value = "Load <noreply@load.test>")]
    pub from: String,

    /// Where the SMTP sink listens. Default: 127.0.0.1:2525 with --target, a free
    /// loopback port otherwise.
    #[arg(long)]
    pub sink_listen: Option<SocketAddr>,

    /// The sluice binary to start in self-contained mode
    /// [default: <workspace>/target/release/sluice, or $CARGO_TARGET_DIR/release/sluice].
    #[arg(long, conflicts_with = "target")]
    pub sluice_bin: Option<PathBuf>,

    /// Requests in flight at once (one task and one keep-alive connection each).
    #[arg(long, short = 'c', default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub concurrency: u32,

    /// Total messages to send [default: 20000; with `--scenario isolation` the healthy
    /// messages per phase, default 4000; with `--scenario rate-limit` the backlog,
    /// default 3 × --rate-limit; with `--scenario webhooks` default 5000].
    #[arg(long, short = 'n', conflicts_with = "duration")]
    pub messages: Option<u64>,

    /// Send for this long instead of a fixed number of messages (e.g. 20s, 2m, 500ms).
    /// With `--scenario rate-limit`: how long to observe deliveries [default: 90s].
    #[arg(long, short = 'd', value_parser = parse_duration)]
    pub duration: Option<Duration>,

    /// What to measure: `load` (the default: accept and delivery rates through a
    /// relay), `isolation` (direct MX delivery to a healthy domain, alone and then
    /// next to a black-holed one, in one server run), `rate-limit` (how closely a
    /// per-minute limit of `--rate-limit` is held), `webhooks` (events to a webhook
    /// endpoint in this process: webhooks/s and event → webhook latency) or `otp`
    /// (OTP accept → 250 at the sink while a bulk backlog drains). See README.md.
    #[arg(long, value_enum, default_value_t = Scenario::Load)]
    pub scenario: Scenario,

    /// `--scenario isolation`: give `blackhole.test` its own provider rule allowing this
    /// many connections (and no rate limit), so the silent MX can tie up that many
    /// delivery slots [default: no rule, the built-in default limits of 2
    /// connections and 60/min].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub blackhole_connections: Option<u32>,

    /// `--scenario otp`: bulk messages queued (batches of 500) before the OTPs.
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub backlog: u64,

    /// `--scenario otp`: transactional OTPs sent one at a time, one every 20 ms,
    /// while the backlog drains.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub otps: u64,

    /// `--scenario webhooks`: webhook requests in flight per endpoint, passed to the
    /// server as `webhooks.max_in_flight_per_endpoint` [default: Sluice's, 8].
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=1_000))]
    pub webhook_in_flight: u32,

    /// `messages_per_minute_per_ip` of the healthy provider (`--scenario rate-limit`).
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub rate_limit: u32,

    /// Send through `POST /v1/messages/batch`, this many messages per request (2 to
    /// 500); each task has one batch in flight. Accept rates then count messages.
    /// [default: 1, one message per `POST /v1/messages`]
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=500))]
    pub batch: u32,

    /// Start no delivery worker (self-contained `--scenario load` only): messages stay
    /// queued and the run ends once sent, for the Redis memory per queued message
    /// (with `--batch 500 --stream bulk`: a campaign). No event fan-out runs either,
    /// so the figure includes each message's event-stream entry.
    #[arg(long, conflicts_with = "target")]
    pub queue_only: bool,

    /// Make each message's text and HTML differ (a greeting with its number), as a
    /// template rendered per recipient does; without it every message has one body.
    #[arg(long)]
    pub personalize: bool,

    /// Which queue the messages go to; `mixed` alternates transactional and bulk.
    #[arg(long, value_enum, default_value_t = StreamMode::Transactional)]
    pub stream: StreamMode,

    /// Approximate size of the message content in bytes (text and HTML parts together).
    #[arg(long, default_value_t = 3_000, value_parser = clap::value_parser!(u64).range(16..=5_000_000))]
    pub size: u64,

    /// DKIM key type of the `load.test` domain (self-contained mode only)
    /// [default: rsa; ed25519 with --scenario isolation, rate-limit, webhooks or otp].
    #[arg(long, value_enum, conflicts_with = "target")]
    pub dkim: Option<DkimKind>,

    /// Delivery concurrency of the server, passed as SLUICE_WORKERS (self-contained
    /// mode only) [default: the server's own default, 64].
    #[arg(long, conflicts_with = "target")]
    pub workers: Option<u32>,

    /// Run `sluice api` and `sluice worker` as two processes instead of one
    /// `sluice serve`, so the CPU of the accept path and of delivery (MIME, DKIM,
    /// SMTP) are reported separately (self-contained mode only).
    #[arg(long, conflicts_with = "target")]
    pub split_roles: bool,

    /// Run against a private Redis Cluster of 3 masters (no replicas, append-only
    /// file on) with two `sluice api` and two `sluice worker` processes; requests
    /// alternate between the two APIs (self-contained `--scenario load` only).
    #[arg(long, conflicts_with = "target")]
    pub cluster: bool,

    /// Queue partitions, passed as SLUICE_QUEUE_PARTITIONS (1 to 1024; self-contained
    /// mode only) [default: 16 with --cluster, else 1].
    #[arg(long, conflicts_with = "target", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub partitions: Option<u16>,

    /// How long to wait, after sending stopped, for the sink to receive every
    /// accepted message.
    #[arg(long, default_value = "120s", value_parser = parse_duration)]
    pub drain_timeout: Duration,

    /// Print the report as JSON instead of text.
    #[arg(long)]
    pub json: bool,

    /// Keep the temporary directory (server log, redis files) and print its path.
    #[arg(long, conflicts_with = "target")]
    pub keep_dir: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    Load,
    Isolation,
    RateLimit,
    Webhooks,
    Otp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StreamMode {
    Transactional,
    Bulk,
    Mixed,
}

impl StreamMode {
    pub fn as_str(self) -> &'static str {
        match self {
            StreamMode::Transactional => "transactional",
            StreamMode::Bulk => "bulk",
            StreamMode::Mixed => "mixed",
        }
    }

    /// The stream of the `index`-th message.
    pub fn stream_of(self, index: u64) -> Stream {
        match self {
            StreamMode::Transactional => Stream::Transactional,
            StreamMode::Bulk => Stream::Bulk,
            StreamMode::Mixed if index.is_multiple_of(2) => Stream::Transactional,
            StreamMode::Mixed => Stream::Bulk,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Transactional,
    Bulk,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Transactional => "transactional",
            Stream::Bulk => "bulk",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DkimKind {
    Rsa,
    Ed25519,
}

impl DkimKind {
    /// The API's name for the algorithm (`dkim_algorithm` in `POST /v1/domains`).
    pub fn algorithm(self) -> &'static str {
        match self {
            DkimKind::Rsa => "rsa-sha256",
            DkimKind::Ed25519 => "ed25519-sha256",
        }
    }
}

/// When the sending phase ends.
#[derive(Clone, Copy, Debug)]
pub enum Limit {
    Messages(u64),
    Duration(Duration),
}

impl Cli {
    pub fn limit(&self) -> Limit {
        match self.duration {
            Some(d) => Limit::Duration(d),
            None => Limit::Messages(self.messages.unwrap_or(20_000)),
        }
    }

    /// The DKIM key type: `--dkim`, else RSA for the load scenario and Ed25519 for
    /// the others (so signing does not dominate what they measure).
    pub fn dkim(&self) -> DkimKind {
        self.dkim.unwrap_or(match self.scenario {
            Scenario::Load => DkimKind::Rsa,
            Scenario::Isolation | Scenario::RateLimit | Scenario::Webhooks | Scenario::Otp => {
                DkimKind::Ed25519
            }
        })
    }

    pub fn self_contained(&self) -> bool {
        self.target.is_none()
    }

    /// SLUICE_QUEUE_PARTITIONS: `--partitions`, else 16 on a cluster (one hash slot
    /// each, spread over the masters) and 1 on a single node.
    pub fn partitions(&self) -> u16 {
        self.partitions.unwrap_or(if self.cluster { 16 } else { 1 })
    }

    /// Checks what clap cannot express.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.scenario != Scenario::Load && self.target.is_some() {
            bail!(
                "--scenario isolation, rate-limit, webhooks and otp start their own server: drop --target"
            );
        }
        if self.scenario != Scenario::Load && self.split_roles {
            bail!("--split-roles only applies to --scenario load");
        }
        if self.scenario != Scenario::Load && self.cluster {
            bail!("--cluster only applies to --scenario load");
        }
        if self.scenario != Scenario::Load && self.queue_only {
            bail!("--queue-only only applies to --scenario load");
        }
        if self.scenario != Scenario::Load && self.batch > 1 {
            bail!("--batch only applies to --scenario load");
        }
        if self.messages == Some(0) {
            bail!("--messages must be at least 1");
        }
        if matches!(self.duration, Some(d) if d.is_zero()) {
            bail!("--duration must be positive");
        }
        if let Some(target) = &self.target
            && !(target.starts_with("http://") || target.starts_with("https://"))
        {
            bail!("--target must be an http:// URL, e.g. http://127.0.0.1:8080");
        }
        if matches!(self.workers, Some(0)) {
            bail!("--workers must be at least 1");
        }
        Ok(())
    }
}

/// The same duration syntax as Sluice's configuration (`500ms`, `20s`, `2m`, `1h`).
pub fn parse_duration(value: &str) -> anyhow::Result<Duration> {
    sluice::config::parse_duration(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() -> anyhow::Result<()> {
        assert_eq!(parse_duration("20s")?, Duration::from_secs(20));
        assert_eq!(parse_duration("500ms")?, Duration::from_millis(500));
        assert_eq!(parse_duration("2m")?, Duration::from_secs(120));
        assert!(parse_duration("fast").is_err());
        Ok(())
    }

    #[test]
    fn mixed_alternates() {
        let mode = StreamMode::Mixed;
        assert_eq!(mode.stream_of(0), Stream::Transactional);
        assert_eq!(mode.stream_of(1), Stream::Bulk);
        assert_eq!(StreamMode::Bulk.stream_of(0), Stream::Bulk);
    }

    #[test]
    fn scenario_defaults() -> anyhow::Result<()> {
        let cli = Cli::try_parse_from(["x"])?;
        assert_eq!(cli.scenario, Scenario::Load);
        assert_eq!(cli.dkim(), DkimKind::Rsa);
        assert!(matches!(cli.limit(), Limit::Messages(20_000)));
        let cli = Cli::try_parse_from(["x", "--scenario", "isolation"])?;
        assert_eq!(cli.dkim(), DkimKind::Ed25519);
        let cli = Cli::try_parse_from(["x", "--scenario", "rate-limit", "--dkim", "rsa"])?;
        assert_eq!((cli.dkim(), cli.rate_limit), (DkimKind::Rsa, 120));
        Ok(())
    }

    #[test]
    fn partitions_default_by_topology() -> anyhow::Result<()> {
        assert_eq!(Cli::try_parse_from(["x"])?.partitions(), 1);
        assert_eq!(Cli::try_parse_from(["x", "--cluster"])?.partitions(), 16);
        let cli = Cli::try_parse_from(["x", "--cluster", "--partitions", "4"])?;
        assert_eq!(cli.partitions(), 4);
        assert!(Cli::try_parse_from(["x", "--partitions", "0"]).is_err());
        let with_target = ["x", "--cluster", "--target", "http://a", "--api-key", "k"];
        assert!(Cli::try_parse_from(with_target).is_err());
        let cli = Cli::try_parse_from(["x", "--cluster", "--scenario", "webhooks"])?;
        assert!(cli.validate().is_err());
        let cli = Cli::try_parse_from(["x", "--cluster", "--scenario", "otp"])?;
        assert!(cli.validate().is_err());
        let cli = Cli::try_parse_from(["x", "--scenario", "otp", "--partitions", "4"])?;
        assert_eq!((cli.backlog, cli.otps, cli.partitions()), (20_000, 200, 4));
        assert_eq!(cli.dkim(), DkimKind::Ed25519);
        cli.validate()?;
        Ok(())
    }

    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
