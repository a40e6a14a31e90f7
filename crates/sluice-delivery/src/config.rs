//! `[delivery]`: the worker's settings as the configuration file and the environment
//! give them, with their one set of defaults and the one conversion into what runs
//! ([`WorkerConfig`], the SMTP [`PoolConfig`]).
//!
//! Every default is taken from the runtime type it configures — the retry schedule
//! from [`RetryPolicy::default`] (RFC 5321 §4.5.4.1), the connection limits and
//! timeouts from [`PoolConfig::default`], the adaptive policy from
//! [`AdaptivePolicy::default`], liveness and drain from the worker — so a default is
//! written once. Durations are typed ([`sluice_model::duration`]): a bad value is
//! refused when the configuration is read. What the types cannot say (a zero
//! timeout, an unknown pool) is refused by [`DeliveryConfig::validate`], naming the
//! key relative to the section.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sluice_model::MessageStream;
use sluice_model::setting::{InvalidSetting, positive};
use sluice_store::adaptive::AdaptivePolicy;

use crate::providers::{ProviderRule, ProviderTable};
use crate::retry::RetryPolicy;
use crate::routing::RouterConfig;
use crate::worker::{
    AdaptiveConfig, DEFAULT_DRAIN_TIMEOUT, DEFAULT_LIVENESS_TTL, Source, WorkerConfig,
};
use sluice_domains::ResolverConfig;
use sluice_smtp_client::{PoolConfig, Timeouts};

mod dnsbl;
mod pools;
mod tls;
pub use dnsbl::DnsblConfig;
pub use pools::{IpPoolConfig, WarmupConfig};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// Delays between attempts; the last one repeats.
    #[serde(with = "sluice_model::duration::list")]
    pub retry_schedule: Vec<Duration>,
    /// Give up (bounce) on messages undelivered this long after they fell due
    /// (`send_at`, else acceptance).
    #[serde(with = "sluice_model::duration")]
    pub max_age: Duration,
    /// No longer used: a stopped worker's entries are taken over when its liveness
    /// expires (`liveness_ttl`). Still accepted (and checked) so existing files load.
    #[serde(with = "sluice_model::duration")]
    pub reclaim_idle: Duration,
    /// At shutdown (SIGTERM), how long in-flight deliveries may take to finish;
    /// what is left is handed back to other workers at once.
    #[serde(with = "sluice_model::duration")]
    pub drain_timeout: Duration,
    /// Concurrent SMTP connections per destination.
    pub max_connections: usize,
    /// Of the `workers` delivery slots, how many bulk leaves to transactional mail
    /// (`SLUICE_DELIVERY_TRANSACTIONAL_RESERVE`); half of them (rounded down) are lent
    /// to bulk while no transactional mail is in flight. Default: an eighth of
    /// `workers`, at least 4, at most half; 0 shares every slot.
    pub transactional_reserve: Option<usize>,
    /// Connections per destination (relay, or source IP × provider) bulk leaves to
    /// transactional mail, out of the destination's cap and never all of it
    /// (`SLUICE_DELIVERY_TRANSACTIONAL_CONNECTIONS`); 0: none.
    pub transactional_connections: usize,
    /// Messages sent over one connection before it is closed.
    pub messages_per_connection: usize,
    #[serde(with = "sluice_model::duration")]
    pub connect_timeout: Duration,
    #[serde(with = "sluice_model::duration")]
    pub greeting_timeout: Duration,
    /// Each command, and the reply to DATA.
    #[serde(with = "sluice_model::duration")]
    pub command_timeout: Duration,
    /// Each block of the body, and the reply to the final dot.
    #[serde(with = "sluice_model::duration")]
    pub data_timeout: Duration,
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
    /// replace built-ins of the same name (`[[delivery.providers]]`). Limits left
    /// out take [`ProviderLimits::default`](crate::providers::ProviderLimits).
    pub providers: Vec<ProviderRule>,
    /// How learned rates react to throttling replies (`[delivery.adaptive]`).
    pub adaptive: AdaptiveSettings,
    /// A worker process's liveness key expires this long after its last refresh
    /// (refreshed four times per period); a killed process's deliveries are taken
    /// over by another worker within about this plus 2 s.
    #[serde(with = "sluice_model::duration")]
    pub liveness_ttl: Duration,
    /// Deliver to MX hosts at loopback, private (RFC 1918, fc00::/7), link-local and
    /// other non-public addresses (`SLUICE_DELIVERY_ALLOW_PRIVATE_MX`). Off: a
    /// recipient domain must not aim the workers at internal hosts.
    pub allow_private_mx: bool,
    /// A PEM file of extra certificate authorities that relay certificates are
    /// verified against besides the Mozilla roots (`SLUICE_DELIVERY_RELAY_CA_FILE`).
    pub relay_ca_file: Option<String>,
    /// Apply recipient domains' MTA-STS policies (RFC 8461) to MX delivery
    /// (`SLUICE_DELIVERY_MTA_STS`; on).
    pub mta_sts: bool,
    /// HTTPS port of `mta-sts.<domain>` policy hosts (`SLUICE_DELIVERY_MTA_STS_PORT`;
    /// 443 — a test and development knob).
    pub mta_sts_port: u16,
    /// A PEM file of extra certificate authorities trusted for MTA-STS policy fetches,
    /// TLS-RPT POSTs and MX hosts verified under a policy (and relays)
    /// (`SLUICE_DELIVERY_TLS_EXTRA_ROOTS`).
    pub tls_extra_roots: Option<String>,
    /// Record TLS outcomes per recipient domain and send daily TLS-RPT reports
    /// (RFC 8460) to `https:` addresses (`SLUICE_DELIVERY_TLS_RPT`; off).
    pub tls_rpt: bool,
    /// The reports' `organization-name` (`SLUICE_DELIVERY_TLS_RPT_ORG_NAME`;
    /// default: `hostname`).
    pub tls_rpt_org_name: Option<String>,
    /// The reports' `contact-info` (`SLUICE_DELIVERY_TLS_RPT_CONTACT`).
    pub tls_rpt_contact: Option<String>,
    /// Sender of reports to `mailto:` addresses, on a domain of `tls_rpt_tenant`
    /// (`SLUICE_DELIVERY_TLS_RPT_FROM`); without it they are skipped.
    pub tls_rpt_from: Option<String>,
    /// The tenant (`ten_…`) whose domain, keys and quotas mailed reports use
    /// (`SLUICE_DELIVERY_TLS_RPT_TENANT`).
    pub tls_rpt_tenant: Option<String>,
    /// DNS blocklists every pool address is checked on: `[[delivery.dnsbl]]` with
    /// `zone`, optional `listed` and `providers` (see [`DnsblConfig`]).
    pub dnsbl: Vec<DnsblConfig>,
    /// How often the blocklists are asked, by one worker process at a time
    /// (`SLUICE_DELIVERY_DNSBL_INTERVAL`).
    #[serde(with = "sluice_model::duration")]
    pub dnsbl_interval: Duration,
    /// Where operator events (`ip.listed`, `ip.delisted`) are POSTed
    /// (`SLUICE_DELIVERY_OPERATOR_WEBHOOK_URL`); unset: logs and metrics only.
    pub operator_webhook_url: Option<String>,
    /// A `whsec_…` secret: operator webhooks are then signed like tenant webhooks
    /// (Standard Webhooks); unset: unsigned (`SLUICE_DELIVERY_OPERATOR_WEBHOOK_SECRET`).
    pub operator_webhook_secret: Option<String>,
}

/// `[delivery.adaptive]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdaptiveSettings {
    /// Messages per minute regained after each clean delivery.
    pub increase_per_success: u32,
    /// The learned rate never drops below this (messages per minute).
    pub floor: u32,
    /// Throttling replies in a row that suspend an (IP × provider).
    pub suspend_after: u32,
    /// How long such a suspension lasts (`0s`: none).
    #[serde(with = "sluice_model::duration")]
    pub cooldown: Duration,
    /// Extra reply texts (case-insensitive) that mean "slow down".
    pub throttle_patterns: Vec<String>,
    /// Mail waiting behind a suspension looks again at least this often.
    #[serde(with = "sluice_model::duration")]
    pub recheck: Duration,
}

/// One `[[delivery.routes]]` entry.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    pub domain: String,
    pub relay: String,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        let retry = RetryPolicy::default();
        let pool = PoolConfig::default();
        Self {
            retry_schedule: retry.schedule,
            max_age: retry.max_age,
            reclaim_idle: Duration::from_secs(300),
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            max_connections: pool.max_connections_per_target,
            transactional_reserve: None,
            transactional_connections: pool.reserved_per_target,
            messages_per_connection: pool.max_messages_per_connection,
            connect_timeout: pool.timeouts.connect,
            greeting_timeout: pool.timeouts.greeting,
            command_timeout: pool.timeouts.command,
            data_timeout: pool.timeouts.data_end,
            mx_port: 25,
            dns_servers: Vec::new(),
            routes: Vec::new(),
            pools: Vec::new(),
            default_pool: None,
            stream_pools: BTreeMap::new(),
            ehlo_names: BTreeMap::new(),
            providers: Vec::new(),
            adaptive: AdaptiveSettings::default(),
            liveness_ttl: DEFAULT_LIVENESS_TTL,
            allow_private_mx: false,
            relay_ca_file: None,
            mta_sts: true,
            mta_sts_port: 443,
            tls_extra_roots: None,
            tls_rpt: false,
            tls_rpt_org_name: None,
            tls_rpt_contact: None,
            tls_rpt_from: None,
            tls_rpt_tenant: None,
            dnsbl: Vec::new(),
            dnsbl_interval: crate::dnsbl::DEFAULT_INTERVAL,
            operator_webhook_url: None,
            operator_webhook_secret: None,
        }
    }
}

impl Default for AdaptiveSettings {
    fn default() -> Self {
        let learning = AdaptiveConfig::default();
        let policy = learning.policy;
        Self {
            increase_per_success: policy.increase_per_success,
            floor: policy.floor,
            suspend_after: policy.suspend_after,
            cooldown: policy.cooldown,
            throttle_patterns: learning.patterns,
            recheck: learning.recheck,
        }
    }
}

impl DeliveryConfig {
    /// Every value on its own (keys relative to `[delivery]`).
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        for (key, duration) in self.waits() {
            positive(key, duration)?;
        }
        self.retry_policy()?;
        for (key, count) in [
            ("max_connections", self.max_connections),
            ("messages_per_connection", self.messages_per_connection),
        ] {
            if count == 0 {
                return Err(InvalidSetting::new(key, "must be at least 1"));
            }
        }
        if self.mx_port == 0 {
            return Err(InvalidSetting::new("mx_port", "must not be 0"));
        }
        self.tls_policy_config("localhost")?;
        self.dns_servers()?;
        let pools = self.pools("")?;
        self.stream_pools(&pools)?;
        self.providers()?;
        self.dnsbl_settings()?;
        self.operator_webhook()?;
        Ok(())
    }

    /// Every single-valued wait and timeout that must be more than zero, by key
    /// (`adaptive.cooldown` may be zero: no suspension).
    pub fn waits(&self) -> [(&'static str, Duration); 9] {
        [
            ("max_age", self.max_age),
            ("reclaim_idle", self.reclaim_idle),
            ("drain_timeout", self.drain_timeout),
            ("liveness_ttl", self.liveness_ttl),
            ("connect_timeout", self.connect_timeout),
            ("greeting_timeout", self.greeting_timeout),
            ("command_timeout", self.command_timeout),
            ("data_timeout", self.data_timeout),
            ("adaptive.recheck", self.adaptive.recheck),
        ]
    }

    /// `retry_schedule` and `max_age`: not empty, every delay positive.
    pub fn retry_policy(&self) -> Result<RetryPolicy, InvalidSetting> {
        if self.retry_schedule.is_empty() {
            return Err(InvalidSetting::new("retry_schedule", "must not be empty"));
        }
        if self.retry_schedule.iter().any(Duration::is_zero) {
            return Err(InvalidSetting::new(
                "retry_schedule",
                "every delay must be more than zero",
            ));
        }
        Ok(RetryPolicy {
            schedule: self.retry_schedule.clone(),
            max_age: positive("max_age", self.max_age)?,
        })
    }

    /// Where mail goes: `routes`, then `default_relay` (the top-level `relay_url`),
    /// else MX hosts on `mx_port`, greeting as `helo_name`.
    pub fn router_config(&self, default_relay: Option<String>, helo_name: &str) -> RouterConfig {
        RouterConfig {
            routes: self
                .routes
                .iter()
                .map(|r| (r.domain.clone(), r.relay.clone()))
                .collect(),
            default_relay,
            mx_port: self.mx_port,
            helo_name: helo_name.to_string(),
        }
    }

    /// `dns_servers` as socket addresses.
    pub fn dns_servers(&self) -> Result<Vec<SocketAddr>, InvalidSetting> {
        parse_name_servers("dns_servers", &self.dns_servers)
    }

    /// The provider table: built-ins, replaced or extended by `providers`.
    pub fn providers(&self) -> Result<ProviderTable, InvalidSetting> {
        ProviderTable::try_with_overrides(self.providers.clone())
            .map_err(|e| InvalidSetting::new("providers", format!("entry refused: {e}")))
    }

    /// How learned rates react.
    pub fn adaptive_config(&self) -> AdaptiveConfig {
        let a = &self.adaptive;
        AdaptiveConfig {
            policy: AdaptivePolicy {
                increase_per_success: a.increase_per_success,
                floor: a.floor,
                suspend_after: a.suspend_after,
                cooldown: a.cooldown,
            },
            patterns: a.throttle_patterns.clone(),
            recheck: a.recheck,
        }
    }

    /// The SMTP connection pool's limits and RFC 5321 §4.5.3.2 timeouts: the
    /// command timeout also bounds the reply to DATA, the data timeout each block of
    /// the body and the reply to the final dot.
    pub fn pool_config(&self) -> PoolConfig {
        PoolConfig {
            max_connections_per_target: self.max_connections,
            reserved_per_target: self.transactional_connections,
            max_messages_per_connection: self.messages_per_connection,
            timeouts: Timeouts {
                connect: self.connect_timeout,
                greeting: self.greeting_timeout,
                command: self.command_timeout,
                data_init: self.command_timeout,
                data_block: self.data_timeout,
                data_end: self.data_timeout,
            },
            ..PoolConfig::default()
        }
    }

    /// The worker's settings: everything above, validated, with `router` (see
    /// [`router_config`](Self::router_config)) and `concurrency` deliveries at once
    /// (of which `transactional_reserve` are held back for transactional mail).
    pub fn worker_config(
        &self,
        router: RouterConfig,
        concurrency: usize,
    ) -> Result<WorkerConfig, InvalidSetting> {
        self.validate()?;
        let resolver = ResolverConfig {
            name_servers: self.dns_servers()?,
            allow_private: self.allow_private_mx,
            ..ResolverConfig::default()
        };
        let pools = self.pools(&router.helo_name)?;
        let stream_pools = self.stream_pools(&pools)?;
        let router_helo = router.helo_name.clone();
        let mut worker = WorkerConfig::new(router, resolver);
        worker.pools = pools;
        worker.stream_pools = stream_pools;
        worker.providers = self.providers()?;
        worker.adaptive = self.adaptive_config();
        worker.concurrency = concurrency;
        worker.transactional_reserve = self.transactional_reserve(concurrency)?;
        worker.reserved_connections = self.transactional_connections;
        worker.retry = self.retry_policy()?;
        worker.liveness_ttl = self.liveness_ttl;
        worker.drain_timeout = self.drain_timeout;
        worker.tls_policy = self.tls_policy_config(&router_helo)?;
        worker.dnsbl = self.dnsbl_settings()?;
        Ok(worker)
    }

    /// The worker slots held back for transactional mail out of `concurrency`:
    /// `transactional_reserve`, else the default for that many slots. Bulk must keep
    /// at least one slot.
    pub fn transactional_reserve(&self, concurrency: usize) -> Result<usize, InvalidSetting> {
        match self.transactional_reserve {
            None => Ok(crate::worker::default_reserve(concurrency)),
            Some(reserve) if reserve < concurrency.max(1) => Ok(reserve),
            Some(reserve) => Err(InvalidSetting::new(
                "transactional_reserve",
                format!(
                    "must be less than `workers` ({concurrency}) so bulk mail keeps a slot, got {reserve}"
                ),
            )),
        }
    }

    /// Each stream's default pool (`default_pool`, `stream_pools`), checked against
    /// `pools`.
    pub fn stream_pools(
        &self,
        pools: &[(String, Vec<Source>)],
    ) -> Result<Vec<(MessageStream, String)>, InvalidSetting> {
        for stream in self.stream_pools.keys() {
            if MessageStream::parse(stream).is_none() {
                return Err(InvalidSetting::new(
                    "stream_pools",
                    format!("key `{stream}` is not transactional or bulk"),
                ));
            }
        }
        let mut chosen = Vec::new();
        for stream in MessageStream::ALL {
            let name = self
                .stream_pools
                .get(stream.as_str())
                .or(self.default_pool.as_ref());
            if let Some(name) = name {
                if !pools.iter().any(|(pool, _)| pool == name) {
                    return Err(InvalidSetting::new(
                        "pools",
                        format!("has no entry named `{name}` (used for {stream} mail)"),
                    ));
                }
                chosen.push((stream, name.clone()));
            }
        }
        Ok(chosen)
    }
}

/// `ip:port` name servers under `key`.
pub fn parse_name_servers(
    key: &str,
    servers: &[String],
) -> Result<Vec<SocketAddr>, InvalidSetting> {
    servers
        .iter()
        .map(|s| {
            s.parse()
                .map_err(|_| InvalidSetting::new(key, format!("entry `{s}` is not ip:port")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_defaults_are_the_runtime_defaults() {
        let config = DeliveryConfig::default();
        config.validate().unwrap();
        assert_eq!(config.retry_policy().unwrap(), RetryPolicy::default());
        let pool = config.pool_config();
        let defaults = PoolConfig::default();
        assert_eq!(
            (
                pool.max_connections_per_target,
                pool.max_messages_per_connection,
                pool.idle_timeout
            ),
            (
                defaults.max_connections_per_target,
                defaults.max_messages_per_connection,
                defaults.idle_timeout
            )
        );
        assert_eq!(pool.timeouts.connect, Duration::from_secs(30));
        assert_eq!(pool.timeouts.data_end, Duration::from_secs(600));
        assert_eq!(config.adaptive_config().policy, AdaptivePolicy::default());
        assert_eq!(config.adaptive_config().recheck, Duration::from_secs(15));
        let router = config.router_config(None, "mta.example.test");
        let worker = config.worker_config(router, 64).unwrap();
        assert_eq!(worker.liveness_ttl, DEFAULT_LIVENESS_TTL);
        assert_eq!(worker.transactional_reserve, 8);
        assert_eq!(worker.reserved_connections, 1);
        assert_eq!(pool.reserved_per_target, defaults.reserved_per_target);
        assert_eq!(worker.drain_timeout, DEFAULT_DRAIN_TIMEOUT);
    }

    #[test]
    fn refusals_name_the_key_in_the_section() {
        let refusal = |change: fn(&mut DeliveryConfig)| {
            let mut config = DeliveryConfig::default();
            change(&mut config);
            config.validate().unwrap_err().to_string()
        };
        assert_eq!(
            refusal(|c| c.adaptive.recheck = Duration::ZERO),
            "`adaptive.recheck` must be more than zero"
        );
        assert_eq!(
            refusal(|c| c.retry_schedule.clear()),
            "`retry_schedule` must not be empty"
        );
        assert_eq!(
            refusal(|c| c.messages_per_connection = 0),
            "`messages_per_connection` must be at least 1"
        );
        assert_eq!(
            refusal(|c| c.dns_servers = vec!["localhost".into()]),
            "`dns_servers` entry `localhost` is not ip:port"
        );
        let mut config = DeliveryConfig::default();
        config.adaptive.cooldown = Duration::ZERO;
        config.validate().unwrap();

        config.transactional_reserve = Some(8);
        let routes = config.router_config(None, "mta.example.test");
        let router = || routes.clone();
        assert_eq!(
            config.worker_config(router(), 8).unwrap_err().to_string(),
            "`transactional_reserve` must be less than `workers` (8) so bulk mail keeps a slot, got 8"
        );
        assert_eq!(
            config
                .worker_config(router(), 9)
                .unwrap()
                .transactional_reserve,
            8
        );
        config.transactional_reserve = Some(0);
        assert_eq!(
            config
                .worker_config(router(), 1)
                .unwrap()
                .transactional_reserve,
            0
        );
    }

    #[test]
    fn a_provider_entry_with_one_limit_takes_the_defaults_for_the_rest() {
        let config: DeliveryConfig = serde_json::from_value(serde_json::json!({
            "providers": [
                { "name": "corp", "mx_patterns": ["*.corp.test"], "messages_per_hour_per_ip": 500 },
                { "name": "gmail", "mx_patterns": ["*.google.com"], "max_connections_per_ip": 1,
                  "messages_per_connection": 5, "messages_per_minute_per_ip": 10 },
            ]
        }))
        .unwrap();
        config.validate().unwrap();
        let table = config.providers().unwrap();
        let corp = table.classify("mx.corp.test", "corp.test");
        assert_eq!(corp.name, "corp");
        assert_eq!(corp.limits.messages_per_hour_per_ip, 500);
        assert_eq!(
            corp.limits.max_connections_per_ip,
            table.default_limits().max_connections_per_ip
        );
        let gmail = table.classify("aspmx.l.google.com", "example.test");
        assert_eq!(gmail.limits.max_connections_per_ip, 1);
        assert_eq!(
            gmail.limits.messages_per_hour_per_ip,
            table.default_limits().messages_per_hour_per_ip
        );
    }
}
