//! Configuration: built-in defaults, then the TOML file, then `SLUICE_*` environment
//! variables — validated once at start, with errors that name the offending key.
//!
//! Top-level keys map to `SLUICE_<KEY>` (`SLUICE_LISTEN`, `SLUICE_REDIS_URL`, …); keys
//! in a section map to `SLUICE_<SECTION>_<KEY>` (`SLUICE_DELIVERY_RECLAIM_IDLE`).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use sluice_delivery::providers::ProviderTable;
use sluice_delivery::worker::{Source, WarmupSchedule};
use sluice_model::MessageStream;

mod domains;
mod durability;
mod durations;
mod http;
mod inbound;
mod metrics;
mod templates;
mod webhooks;
pub use domains::{DomainsConfig, Secret};
pub use durability::{DurabilityConfig, DurabilityMode, startup_refusal};
pub use http::HttpConfig;
pub use inbound::{InboundConfig, InboundLimits};
pub use metrics::MetricsConfig;
pub use templates::{ByteSize, TemplatesConfig};
pub use webhooks::WebhooksConfig;

/// Sections whose keys are reachable as `SLUICE_<SECTION>_<KEY>`.
const SECTIONS: &[&str] = &[
    "delivery",
    "dns",
    "webhooks",
    "domains",
    "templates",
    "durability",
    "http",
    "metrics",
    "inbound",
];

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// HTTP listen address (SLUICE_LISTEN).
    pub listen: SocketAddr,
    /// Redis URL (SLUICE_REDIS_URL).
    pub redis_url: String,
    /// The default smart host (SLUICE_RELAY_URL); unset = direct MX delivery:
    /// `smtp://host:port` (STARTTLS when offered), `smtp+starttls://` (required),
    /// `smtps://` (implicit TLS), `user:pass@` for AUTH.
    pub relay_url: Option<String>,
    /// Bearer token for the operator's admin API (SLUICE_ADMIN_TOKEN); unset disables it.
    pub admin_token: Option<String>,
    /// Largest message accepted, in bytes (SLUICE_MAX_MESSAGE_BYTES).
    pub max_message_bytes: usize,
    /// Deliveries in flight at once per process (SLUICE_WORKERS).
    pub workers: usize,
    /// This host's name: EHLO greeting and default bounce domain (SLUICE_HOSTNAME).
    pub hostname: String,
    /// How long finished messages stay readable (SLUICE_RETENTION), e.g. "30d".
    pub retention: String,
    /// `text` or `json` logs (SLUICE_LOG_FORMAT).
    pub log_format: String,
    /// The domain of the VERP return path `bounces+<token>@<domain>` and of the
    /// inbound listener (SLUICE_BOUNCE_DOMAIN); default `hostname`.
    pub bounce_domain: Option<String>,
    /// Where the inbound SMTP listener for DSNs and complaints listens
    /// (SLUICE_INBOUND_LISTEN); empty turns it off.
    pub inbound_listen: String,
    /// Allow webhook URLs that point at private, loopback or link-local addresses
    /// (SLUICE_WEBHOOK_ALLOW_PRIVATE); off by default (SSRF).
    pub webhook_allow_private: bool,
    /// The public base URL of the API, for one-click unsubscribe links
    /// (SLUICE_PUBLIC_URL), e.g. `https://mail-api.example.com`.
    pub public_url: Option<String>,
    /// Key for the HMACs of VERP and unsubscribe tokens (SLUICE_SECRET_KEY), at least
    /// 32 characters; unset = a random key generated once and kept in Redis, so every
    /// process agrees.
    pub secret_key: Option<String>,
    /// 32 bytes, base64 (SLUICE_DKIM_KEY_ENCRYPTION_KEY): DKIM private keys are stored
    /// encrypted with it. Required by `serve`, `api` and `worker`; `sluice dev` makes
    /// one in its data directory. Make one with `openssl rand -base64 32`.
    pub dkim_key_encryption_key: Option<Secret>,
    pub delivery: DeliveryConfig,
    pub dns: DnsConfig,
    pub admin: AdminConfig,
    pub webhooks: WebhooksConfig,
    pub domains: DomainsConfig,
    /// Every tenant's sending quotas unless the operator set its own
    /// (`[quotas.transactional]` / `[quotas.bulk]` with `per_second`, `burst`,
    /// `per_day`; `SLUICE_QUOTAS_BULK_PER_DAY`, …).
    pub quotas: sluice_model::TenantQuotas,
    /// Per-render memory and time limits of templates, and the sandbox that holds them.
    pub templates: TemplatesConfig,
    /// What a 202 promises: `[durability]` (`SLUICE_DURABILITY_MODE`, …).
    pub durability: DurabilityConfig,
    /// `[http]`: the HTTP listeners' timeouts and connection cap.
    pub http: HttpConfig,
    /// `[metrics]`: the `/metrics` token and the metrics-only listener.
    pub metrics: MetricsConfig,
    /// Limits of the inbound SMTP listener (`[inbound]`, `SLUICE_INBOUND_<KEY>`).
    pub inbound: InboundConfig,
}

#[derive(Clone, Debug, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Operator JWTs accepted by the admin API (besides `admin_token`).
    pub jwt: Option<JwtConfig>,
}

/// `[admin.jwt]`, or `SLUICE_JWT_ALGORITHM`, `SLUICE_JWT_SECRET`, `SLUICE_JWT_PUBLIC_KEY`,
/// `SLUICE_JWT_ISSUER`, `SLUICE_JWT_AUDIENCE`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    /// HS256/384/512 (with `secret`), RS256/384/512, PS256, ES256/384 or EdDSA (with
    /// `public_key_pem`). Tokens signed with any other algorithm are refused.
    pub algorithm: String,
    pub secret: Option<String>,
    /// The PEM text, or the path of a PEM file.
    pub public_key_pem: Option<String>,
    pub issuer: String,
    pub audience: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// Delays between attempts; the last one repeats.
    pub retry_schedule: Vec<String>,
    /// Give up (bounce) on messages undelivered this long after they fell due
    /// (`send_at`, else acceptance).
    pub max_age: String,
    /// No longer used: a stopped worker's entries are taken over when its liveness
    /// expires (`liveness_ttl`). Still accepted so existing files load.
    pub reclaim_idle: String,
    /// At shutdown (SIGTERM), how long in-flight deliveries may take to finish;
    /// what is left is handed back to other workers at once.
    pub drain_timeout: String,
    /// Concurrent SMTP connections per destination.
    pub max_connections: usize,
    /// Messages sent over one connection before it is closed.
    pub messages_per_connection: usize,
    pub connect_timeout: String,
    pub greeting_timeout: String,
    pub command_timeout: String,
    pub data_timeout: String,
    /// Port MX hosts are contacted on (`SLUICE_DELIVERY_MX_PORT`; 25, tests use a sink's).
    pub mx_port: u16,
    /// Name servers (`ip:port`) for MX lookups; empty = the system's resolv.conf.
    pub dns_servers: Vec<String>,
    /// Per-domain relays: `[[delivery.routes]]` with `domain` (exact or `*.example.com`)
    /// and `relay` (an `smtp://` / `smtps://` URL).
    pub routes: Vec<RouteConfig>,
    /// Named sets of source addresses: `[[delivery.pools]]` with `name` and `sources`.
    pub pools: Vec<IpPoolConfig>,
    /// The pool every stream uses unless `stream_pools` names another.
    pub default_pool: Option<String>,
    /// Per-stream pools, e.g. `{ bulk = "bulk-ips" }`.
    pub stream_pools: BTreeMap<String, String>,
    /// EHLO name per source address (`{ "192.0.2.10" = "mta1.example.com" }`);
    /// default: `hostname`.
    pub ehlo_names: BTreeMap<String, String>,
    /// Mailbox providers recognised by MX host patterns, with per-IP limits; they
    /// replace built-ins of the same name (`[[delivery.providers]]`).
    pub providers: Vec<sluice_delivery::providers::ProviderRule>,
    /// How learned rates react to throttling replies (`[delivery.adaptive]`).
    pub adaptive: AdaptiveSettings,
    /// A worker process's liveness key expires this long after its last refresh
    /// (refreshed four times per period); a killed process's deliveries are taken
    /// over by another worker within about this plus 2 s.
    pub liveness_ttl: String,
    /// Deliver to MX hosts at loopback, private (RFC 1918, fc00::/7), link-local and
    /// other non-public addresses (`SLUICE_DELIVERY_ALLOW_PRIVATE_MX`). Off: a
    /// recipient domain must not aim the workers at internal hosts.
    pub allow_private_mx: bool,
    /// A PEM file of extra certificate authorities that relay certificates are
    /// verified against besides the Mozilla roots (`SLUICE_DELIVERY_RELAY_CA_FILE`).
    pub relay_ca_file: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdaptiveSettings {
    /// Messages per minute regained after each clean delivery.
    pub increase_per_success: u32,
    /// The learned rate never drops below this (messages per minute).
    pub floor: u32,
    /// Throttling replies in a row that suspend an (IP × provider).
    pub suspend_after: u32,
    /// How long such a suspension lasts.
    pub cooldown: String,
    /// Extra reply texts (case-insensitive) that mean "slow down".
    pub throttle_patterns: Vec<String>,
    /// Mail waiting behind a suspension looks again at least this often.
    pub recheck: String,
}

impl Default for AdaptiveSettings {
    fn default() -> Self {
        Self {
            increase_per_success: 1,
            floor: 1,
            suspend_after: 5,
            cooldown: "5m".into(),
            throttle_patterns: Vec::new(),
            recheck: "15s".into(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpPoolConfig {
    pub name: String,
    pub sources: Vec<String>,
    /// A ramp for new addresses: `{ start = "2026-11-20", daily_caps = [50, 100, 500] }`,
    /// messages per (IP × provider) per UTC day; warm (uncapped) after the last day.
    #[serde(default)]
    pub warmup: Option<WarmupConfig>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarmupConfig {
    pub start: String,
    pub daily_caps: Vec<u32>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    pub domain: String,
    pub relay: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct DnsConfig {
    /// The SPF `include:` domain tenants publish (default `_spf.<hostname>`).
    pub spf_include: Option<String>,
    /// Where tenants point their `bounces.<domain>` CNAME (default: the hostname).
    pub return_path_target: Option<String>,
    /// Optional `rua=` address for the suggested DMARC record.
    pub dmarc_rua: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            redis_url: "redis://127.0.0.1:6379/".into(),
            relay_url: None,
            admin_token: None,
            max_message_bytes: 10_000_000,
            workers: 64,
            hostname: default_hostname(),
            retention: "30d".into(),
            log_format: "text".into(),
            bounce_domain: None,
            inbound_listen: "127.0.0.1:2526".into(),
            webhook_allow_private: false,
            public_url: None,
            secret_key: None,
            dkim_key_encryption_key: None,
            delivery: DeliveryConfig::default(),
            dns: DnsConfig::default(),
            admin: AdminConfig::default(),
            webhooks: WebhooksConfig::default(),
            domains: DomainsConfig::default(),
            quotas: sluice_model::TenantQuotas::default(),
            templates: TemplatesConfig::default(),
            durability: DurabilityConfig::default(),
            http: HttpConfig::default(),
            metrics: MetricsConfig::default(),
            inbound: InboundConfig::default(),
        }
    }
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        // The schedule is defined once, by the delivery crate (RFC 5321 §4.5.4.1).
        let retry = sluice_delivery::retry::RetryPolicy::default();
        Self {
            retry_schedule: retry
                .schedule
                .iter()
                .map(|d| durations::format_duration(*d))
                .collect(),
            max_age: durations::format_duration(retry.max_age),
            reclaim_idle: "5m".into(),
            drain_timeout: "60s".into(),
            max_connections: 16,
            messages_per_connection: 100,
            connect_timeout: "30s".into(),
            greeting_timeout: "5m".into(),
            command_timeout: "5m".into(),
            data_timeout: "10m".into(),
            mx_port: 25,
            dns_servers: Vec::new(),
            routes: Vec::new(),
            pools: Vec::new(),
            default_pool: None,
            stream_pools: BTreeMap::new(),
            ehlo_names: BTreeMap::new(),
            providers: Vec::new(),
            adaptive: AdaptiveSettings::default(),
            liveness_ttl: "8s".into(),
            allow_private_mx: false,
            relay_ca_file: None,
        }
    }
}

fn default_hostname() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let name = name.trim().to_ascii_lowercase();
    if name.contains('.') {
        name
    } else {
        "sluice.localhost".into()
    }
}

/// Maps `SLUICE_DELIVERY_RECLAIM_IDLE` to `delivery.reclaim_idle` and
/// `SLUICE_JWT_SECRET` to `admin.jwt.secret`.
fn env_key(key: &str) -> String {
    let key = key.to_ascii_lowercase();
    if let Some(rest) = key.strip_prefix("jwt_") {
        let rest = if rest == "public_key" {
            "public_key_pem"
        } else {
            rest
        };
        return format!("admin.jwt.{rest}");
    }
    for stream in ["transactional", "bulk"] {
        if let Some(rest) = key.strip_prefix(&format!("quotas_{stream}_")) {
            return format!("quotas.{stream}.{rest}");
        }
    }
    // A top-level key that predates the `[inbound]` section of the same prefix.
    if key == "inbound_listen" {
        return key;
    }
    for section in SECTIONS {
        if let Some(rest) = key.strip_prefix(&format!("{section}_")) {
            return format!("{section}.{rest}");
        }
    }
    key
}

impl Config {
    /// Loads defaults, then `path` (if given, it must exist; the default `sluice.toml`
    /// may be absent), then the environment. Validates everything.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        match path {
            Some(path) if !path.exists() => bail!("config file {} does not exist", path.display()),
            Some(path) => figment = figment.merge(Toml::file_exact(path)),
            None if Path::new("sluice.toml").exists() => {
                figment = figment.merge(Toml::file_exact("sluice.toml"))
            }
            None => {}
        }
        // `SLUICE_TEST_*` belongs to the test suite (e.g. SLUICE_TEST_PYTHON), not to Sluice.
        let env = Env::prefixed("SLUICE_")
            .ignore(&["config"])
            .filter(|key| !key.as_str().to_ascii_lowercase().starts_with("test_"))
            .map(|key| env_key(key.as_str()).into());
        figment = figment.merge(env);
        let config: Config = figment
            .extract()
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        for stream in MessageStream::ALL {
            let quota = self.quotas.get(stream);
            if quota.per_second == 0 || quota.burst == 0 || quota.per_day == 0 {
                bail!(
                    "invalid configuration: `quotas.{stream}` per_second, burst and per_day must each be at least 1"
                );
            }
        }
        if self.workers == 0 || self.workers > 10_000 {
            bail!(
                "invalid configuration: `workers` (SLUICE_WORKERS) must be 1 to 10000, got {}",
                self.workers
            );
        }
        if self.max_message_bytes < 1024 {
            bail!(
                "invalid configuration: `max_message_bytes` (SLUICE_MAX_MESSAGE_BYTES) must be at least 1024"
            );
        }
        if self.delivery.max_connections == 0 || self.delivery.messages_per_connection == 0 {
            bail!(
                "invalid configuration: `delivery.max_connections` and `delivery.messages_per_connection` must be positive"
            );
        }
        if !matches!(self.log_format.as_str(), "text" | "json") {
            bail!(
                "invalid configuration: `log_format` (SLUICE_LOG_FORMAT) must be `text` or `json`"
            );
        }
        if matches!(&self.admin_token, Some(t) if t.len() < 16) {
            bail!(
                "invalid configuration: `admin_token` (SLUICE_ADMIN_TOKEN) must be at least 16 characters"
            );
        }
        redis::parse_url(&self.redis_url)?;
        self.admin_jwt_verifier()?;
        self.validate_durations()?;
        self.webhook_api_settings()?;
        self.dns_servers()?;
        self.validate_domains()?;
        self.template_sandbox()?;
        self.durability_requirements()?;
        self.http_limits()?;
        self.validate_metrics()?;
        self.inbound_limits()?;
        self.source_pools()?;
        self.providers()?;
        if self.delivery.mx_port == 0 {
            bail!(
                "invalid configuration: `delivery.mx_port` (SLUICE_DELIVERY_MX_PORT) must not be 0"
            );
        }
        Ok(())
    }

    /// `delivery.dns_servers` as socket addresses.
    pub fn dns_servers(&self) -> anyhow::Result<Vec<std::net::SocketAddr>> {
        self.delivery
            .dns_servers
            .iter()
            .map(|s| {
                s.parse().with_context(|| {
                    format!(
                        "invalid configuration: `delivery.dns_servers` entry `{s}` is not ip:port"
                    )
                })
            })
            .collect()
    }

    /// Each stream's default source pool: `(stream, pool name, sources)`, validated.
    pub fn source_pools(&self) -> anyhow::Result<Vec<(MessageStream, String, Vec<Source>)>> {
        let d = &self.delivery;
        let pools: BTreeMap<String, Vec<Source>> = self.pools()?.into_iter().collect();
        for stream in d.stream_pools.keys() {
            if MessageStream::parse(stream).is_none() {
                bail!(
                    "invalid configuration: `delivery.stream_pools` key `{stream}` is not transactional or bulk"
                );
            }
        }
        let mut chosen = Vec::new();
        for stream in MessageStream::ALL {
            let name = d
                .stream_pools
                .get(stream.as_str())
                .or(d.default_pool.as_ref());
            if let Some(name) = name {
                let sources = pools.get(name.as_str()).with_context(|| {
                    format!("invalid configuration: no `delivery.pools` entry named `{name}` (used for {stream} mail)")
                })?;
                chosen.push((stream, name.clone(), sources.clone()));
            }
        }
        Ok(chosen)
    }

    /// Every pool by name, validated (tenants may be assigned any of them).
    pub fn pools(&self) -> anyhow::Result<Vec<(String, Vec<Source>)>> {
        let d = &self.delivery;
        let mut pools: BTreeMap<&str, Vec<Source>> = BTreeMap::new();
        for pool in &d.pools {
            if pool.sources.is_empty() {
                bail!(
                    "invalid configuration: `delivery.pools` pool `{}` has no sources",
                    pool.name
                );
            }
            let warmup = match &pool.warmup {
                None => None,
                Some(w) => {
                    let format = time::macros::format_description!("[year]-[month]-[day]");
                    let start = time::Date::parse(&w.start, &format).with_context(|| {
                        format!("invalid configuration: `delivery.pools` pool `{}`: warmup start `{}` is not YYYY-MM-DD", pool.name, w.start)
                    })?;
                    if w.daily_caps.is_empty() || w.daily_caps.contains(&0) {
                        bail!(
                            "invalid configuration: `delivery.pools` pool `{}`: warmup daily_caps must be positive numbers",
                            pool.name
                        );
                    }
                    let start_day =
                        (start.midnight().assume_utc().unix_timestamp()).div_euclid(86_400);
                    Some(Arc::new(WarmupSchedule {
                        start_day,
                        daily_caps: w.daily_caps.clone(),
                    }))
                }
            };
            let sources = pool
                .sources
                .iter()
                .map(|ip| {
                    let parsed: IpAddr = ip.parse().with_context(|| {
                        format!("invalid configuration: `delivery.pools` pool `{}`: `{ip}` is not an IP address", pool.name)
                    })?;
                    let helo_name = d.ehlo_names.get(ip).cloned().unwrap_or_else(|| self.hostname.clone());
                    Ok(Source { ip: parsed, helo_name, warmup: warmup.clone() })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            if pools.insert(&pool.name, sources).is_some() {
                bail!(
                    "invalid configuration: `delivery.pools` names `{}` twice",
                    pool.name
                );
            }
        }
        Ok(pools
            .into_iter()
            .map(|(name, sources)| (name.to_string(), sources))
            .collect())
    }

    /// The provider table: built-ins, replaced or extended by `delivery.providers`.
    pub fn providers(&self) -> anyhow::Result<ProviderTable> {
        ProviderTable::try_with_overrides(self.delivery.providers.clone())
            .map_err(|e| anyhow::anyhow!("invalid configuration: `delivery.providers`: {e}"))
    }

    /// The admin JWT verifier, when `admin.jwt` is configured.
    pub fn admin_jwt_verifier(
        &self,
    ) -> anyhow::Result<Option<sluice_api::admin_jwt::AdminJwtVerifier>> {
        let Some(jwt) = &self.admin.jwt else {
            return Ok(None);
        };
        let pem = match jwt.public_key_pem.as_deref() {
            Some(text) if text.trim_start().starts_with("-----BEGIN") => Some(text.as_bytes().to_vec()),
            Some(path) => Some(std::fs::read(path).with_context(|| {
                format!("invalid configuration: `admin.jwt.public_key_pem` (SLUICE_JWT_PUBLIC_KEY): cannot read {path}")
            })?),
            None => None,
        };
        let verifier = sluice_api::admin_jwt::AdminJwtVerifier::new(
            &jwt.algorithm,
            jwt.secret.as_deref(),
            pem.as_deref(),
            &jwt.issuer,
            &jwt.audience,
        )
        .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        Ok(Some(verifier))
    }

    /// A duration field already checked by `validate`, which parses every duration
    /// key and refuses a bad one by name; the fallback is never reached after it.
    pub fn duration(value: &str) -> Duration {
        parse_duration(value).unwrap_or(Duration::from_secs(60))
    }
}

mod redis {
    /// Checks the URL's shape without connecting.
    pub fn parse_url(url: &str) -> anyhow::Result<()> {
        if url.starts_with("redis://")
            || url.starts_with("rediss://")
            || url.starts_with("redis+unix://")
        {
            Ok(())
        } else {
            anyhow::bail!(
                "invalid configuration: `redis_url` (SLUICE_REDIS_URL) must start with redis:// or rediss://"
            )
        }
    }
}

/// `250ms`, `90s`, `5m`, `4h`, `3d`.
pub fn parse_duration(value: &str) -> anyhow::Result<Duration> {
    let value = value.trim();
    let split = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let number: u64 = number
        .parse()
        .with_context(|| format!("`{value}` is not a duration like 90s, 5m, 4h or 3d"))?;
    let seconds = match unit {
        "ms" => return Ok(Duration::from_millis(number)),
        "s" => number,
        "m" => number * 60,
        "h" => number * 3600,
        "d" => number * 86_400,
        _ => bail!("`{value}` has no valid unit (ms, s, m, h, d)"),
    };
    Ok(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("3d").unwrap(), Duration::from_secs(259_200));
        assert!(parse_duration("5 minutes").is_err());
        assert!(parse_duration("m").is_err());
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API returns its own large error type.
    fn environment_overrides_file_and_errors_name_the_key() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "s.toml",
                "workers = 8\nmax_message_bytes = 2000\n[delivery]\nmax_connections = 3\n",
            )?;
            jail.set_env("SLUICE_WORKERS", "12");
            jail.set_env("SLUICE_TEST_PYTHON", "/usr/bin/python3");
            jail.set_env("SLUICE_DELIVERY_RECLAIM_IDLE", "2s");
            let config = Config::load(Some(Path::new("s.toml"))).unwrap();
            assert_eq!(config.workers, 12);
            assert_eq!(config.max_message_bytes, 2000);
            assert_eq!(config.delivery.max_connections, 3);
            assert_eq!(config.delivery.reclaim_idle, "2s");

            jail.set_env("SLUICE_WORKERS", "lots");
            let error = Config::load(Some(Path::new("s.toml")))
                .unwrap_err()
                .to_string()
                .to_lowercase();
            assert!(
                error.contains("workers") && error.contains("sluice_"),
                "{error}"
            );

            jail.set_env("SLUICE_WORKERS", "4");
            jail.set_env("SLUICE_NO_SUCH_KEY", "x");
            let error = Config::load(Some(Path::new("s.toml")))
                .unwrap_err()
                .to_string()
                .to_lowercase();
            assert!(error.contains("no_such_key"), "{error}");
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)]
    fn jwt_settings_come_from_the_environment() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("SLUICE_JWT_ALGORITHM", "HS256");
            jail.set_env("SLUICE_JWT_SECRET", "0123456789abcdef0123456789abcdef");
            jail.set_env("SLUICE_JWT_ISSUER", "https://idp.test");
            jail.set_env("SLUICE_JWT_AUDIENCE", "sluice-admin");
            let config = Config::load(None).unwrap();
            assert!(config.admin_jwt_verifier().unwrap().is_some());
            jail.set_env("SLUICE_JWT_ALGORITHM", "RS256");
            jail.set_env("SLUICE_JWT_PUBLIC_KEY", "/nonexistent/key.pem");
            let error = Config::load(None).unwrap_err().to_string();
            assert!(error.contains("SLUICE_JWT_PUBLIC_KEY"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn pools_are_validated_with_the_key_named() {
        let mut config = Config::default();
        config.delivery.default_pool = Some("missing".into());
        let error = format!("{:#}", config.validate().unwrap_err());
        assert!(
            error.contains("delivery.pools") && error.contains("missing"),
            "{error}"
        );

        config.delivery.pools = vec![IpPoolConfig {
            name: "missing".into(),
            sources: vec!["not-an-ip".into()],
            warmup: None,
        }];
        let error = format!("{:#}", config.validate().unwrap_err());
        assert!(error.contains("not-an-ip"), "{error}");

        config.delivery.pools[0].sources = vec!["127.0.0.2".into()];
        config
            .delivery
            .stream_pools
            .insert("bulk".into(), "missing".into());
        let pools = config.source_pools().unwrap();
        assert_eq!(pools.len(), 2, "both streams use a pool");
        config
            .delivery
            .stream_pools
            .insert("urgent".into(), "missing".into());
        assert!(config.validate().is_err());
    }

    #[test]
    #[allow(clippy::result_large_err)]
    fn a_bad_duration_names_its_key() {
        let mut config = Config::default();
        config.delivery.reclaim_idle = "soon".into();
        let error = format!("{:#}", config.validate().unwrap_err());
        assert!(
            error.contains("`delivery.reclaim_idle` (SLUICE_DELIVERY_RECLAIM_IDLE)"),
            "{error}"
        );

        // From the environment: the key and its variable are named.
        figment::Jail::expect_with(|jail| {
            jail.set_env("SLUICE_WEBHOOKS_DISABLE_AFTER", "2 days");
            let error = format!("{:#}", Config::load(None).unwrap_err());
            assert!(
                error.contains("`webhooks.disable_after` (SLUICE_WEBHOOKS_DISABLE_AFTER)")
                    && error.contains("2 days"),
                "{error}"
            );
            jail.set_env("SLUICE_WEBHOOKS_DISABLE_AFTER", "2d");
            jail.set_env("SLUICE_RETENTION", "12h");
            let error = format!("{:#}", Config::load(None).unwrap_err());
            assert!(
                error.contains("`retention` (SLUICE_RETENTION)")
                    && error.contains("`delivery.max_age` (SLUICE_DELIVERY_MAX_AGE)"),
                "{error}"
            );
            Ok(())
        });
    }
}
