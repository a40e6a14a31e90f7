//! Configuration: built-in defaults, then the TOML file, then `SLUICE_*` environment
//! variables — read into types once at start (durations and enums included), then
//! validated, with errors that name the offending key and its environment variable.
//!
//! Top-level keys map to `SLUICE_<KEY>` (`SLUICE_LISTEN`, `SLUICE_REDIS_URL`, …); keys
//! in a section map to `SLUICE_<SECTION>_<KEY>` (`SLUICE_DELIVERY_DRAIN_TIMEOUT`); see
//! [`keys`].
//!
//! Each component's section is a type beside the component, with its one set of
//! defaults and its one conversion into what runs: `[delivery]` is
//! [`sluice_delivery::config::DeliveryConfig`], `[webhooks]`
//! [`sluice_events::WebhooksConfig`], `[templates]`
//! [`sluice_template_sandbox::TemplatesConfig`]. [`Config`] composes them with the
//! binary's own sections; [`crate::config::settings`] turns it into the running
//! settings of each role.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::bail;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use sluice_model::MessageStream;

mod delivery;
mod domains;
mod durability;
mod durations;
mod http;
mod inbound;
pub mod keys;
mod metrics;
mod queue;
mod redis;
mod reputation;
pub mod settings;
mod submission;
mod templates;
mod webhooks;
pub use domains::{DomainsConfig, Secret};
pub use durability::{DurabilityConfig, DurabilityMode, startup_refusal};
pub use http::HttpConfig;
pub use inbound::{InboundConfig, InboundLimits};
pub use metrics::MetricsConfig;
pub use queue::QueueConfig;
pub use reputation::ReputationConfig;
pub use sluice_delivery::config::{
    AdaptiveSettings, DeliveryConfig, DnsblConfig, IpPoolConfig, RouteConfig, WarmupConfig,
};
pub use sluice_events::WebhooksConfig;
pub use sluice_template_sandbox::{ByteSize, TemplatesConfig};
pub use submission::{SubmissionConfig, SubmissionListeners};

use keys::refuse;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// HTTP listen address (SLUICE_LISTEN).
    pub listen: SocketAddr,
    /// Redis URL (SLUICE_REDIS_URL).
    pub redis_url: String,
    /// PEM file of the CA that signed the Redis servers' certificates
    /// (SLUICE_REDIS_CA_FILE), trusted instead of the system's roots; `rediss` URLs only.
    pub redis_ca_file: Option<String>,
    /// PEM files of a client certificate and its key (SLUICE_REDIS_CLIENT_CERT,
    /// SLUICE_REDIS_CLIENT_KEY) for Redis servers that require one
    /// (`tls-auth-clients yes`); `rediss` URLs only.
    pub redis_client_cert: Option<String>,
    pub redis_client_key: Option<String>,
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
    #[serde(with = "sluice_model::duration")]
    pub retention: Duration,
    /// `text` or `json` logs (SLUICE_LOG_FORMAT).
    pub log_format: LogFormat,
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
    /// `[queue]`: the queue's partitions.
    pub queue: QueueConfig,
    /// Limits of the inbound SMTP listener (`[inbound]`, `SLUICE_INBOUND_<KEY>`).
    pub inbound: InboundConfig,
    /// The tenant reputation guard (`[reputation]`, `SLUICE_REPUTATION_<KEY>`).
    pub reputation: ReputationConfig,
    /// The SMTP submission listener (`[submission]`, `SLUICE_SUBMISSION_<KEY>`); off
    /// unless an address is set.
    pub submission: SubmissionConfig,
}

/// How log lines are written (`log_format`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// For people: one readable line per event.
    #[default]
    Text,
    /// For log collectors: one JSON object per line.
    Json,
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
            redis_ca_file: None,
            redis_client_cert: None,
            redis_client_key: None,
            relay_url: None,
            admin_token: None,
            max_message_bytes: 10_000_000,
            workers: sluice_delivery::worker::DEFAULT_CONCURRENCY,
            hostname: default_hostname(),
            retention: Duration::from_secs(30 * 86_400),
            log_format: LogFormat::default(),
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
            queue: QueueConfig::default(),
            inbound: InboundConfig::default(),
            reputation: ReputationConfig::default(),
            submission: SubmissionConfig::default(),
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
            .map(|key| keys::env_key(key.as_str()).into());
        figment = figment.merge(env);
        let config: Config = figment.extract().map_err(keys::unreadable)?;
        config.validate()?;
        Ok(config)
    }

    /// Everything the types cannot say, each refusal naming its key; the conversions
    /// into running settings ([`settings`]) run the same checks.
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
        if matches!(&self.admin_token, Some(t) if t.len() < 16) {
            bail!(
                "invalid configuration: `admin_token` (SLUICE_ADMIN_TOKEN) must be at least 16 characters"
            );
        }
        check_redis_url(&self.redis_url)?;
        self.redis_tls()?;
        self.admin_jwt_verifier()?;
        self.delivery
            .validate()
            .map_err(|e| refuse(e.within("delivery")))?;
        self.delivery
            .transactional_reserve(self.workers)
            .map_err(|e| refuse(e.within("delivery")))?;
        self.validate_retention()?;
        self.webhook_api_settings()?;
        self.validate_domains()?;
        self.template_sandbox()?;
        self.durability_requirements()?;
        self.http_limits()?;
        self.validate_metrics()?;
        self.validate_queue()?;
        self.inbound_limits()?;
        self.reputation_policy()?;
        self.submission_listeners()?;
        Ok(())
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
            Some(path) => Some(std::fs::read(path).map_err(|e| {
                anyhow::anyhow!("invalid configuration: `admin.jwt.public_key_pem` (SLUICE_JWT_PUBLIC_KEY): cannot read {path}: {e}")
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
}

/// Checks the Redis URL's shape without connecting.
fn check_redis_url(url: &str) -> anyhow::Result<()> {
    if url.starts_with("redis://")
        || url.starts_with("rediss://")
        || url.starts_with("redis+unix://")
    {
        Ok(())
    } else if url.starts_with("redis+cluster://") || url.starts_with("rediss+cluster://") {
        let hosts = url.split_once("://").map_or("", |(_, rest)| rest);
        let hosts = hosts.rsplit_once('@').map_or(hosts, |(_, hosts)| hosts);
        if hosts
            .trim_matches('/')
            .split(',')
            .any(|h| !h.trim().is_empty())
        {
            Ok(())
        } else {
            bail!(
                "invalid configuration: `redis_url` (SLUICE_REDIS_URL) names no cluster node: use redis+cluster://host:port,host:port"
            )
        }
    } else {
        bail!(
            "invalid configuration: `redis_url` (SLUICE_REDIS_URL) must start with redis://, rediss://, or redis+cluster:// (rediss+cluster://) for a Redis Cluster"
        )
    }
}

/// `250ms`, `90s`, `5m`, `4h`, `3d` (see [`sluice_model::duration`]).
pub fn parse_duration(value: &str) -> anyhow::Result<Duration> {
    Ok(sluice_model::duration::parse(value)?)
}

#[cfg(test)]
mod tests;
