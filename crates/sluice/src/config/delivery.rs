//! The binary's side of `[delivery]` ([`DeliveryConfig`](super::DeliveryConfig), beside
//! the worker): what joins it with top-level keys (`relay_url`, `hostname`, `workers`)
//! and what reads files.

use sluice_api::routes::delivery::{
    DeliveryConfigView, DnsblZoneView, PoolView, ProviderView, SourceView, WarmupScheduleView,
};
use sluice_delivery::providers::ProviderTable;
use sluice_delivery::routing::Router;
use sluice_delivery::worker::Source;
use sluice_delivery::worker::WorkerConfig;
use sluice_model::MessageStream;
use sluice_smtp_client::{PoolConfig, RelayTrust};
use time::OffsetDateTime;

use super::Config;
use super::keys::refuse;

impl Config {
    /// The delivery worker's settings, validated; a relay URL that does not parse
    /// stops the start here rather than at the first delivery.
    pub fn worker_config(&self) -> anyhow::Result<WorkerConfig> {
        let router = self
            .delivery
            .router_config(self.relay_url.clone(), &self.hostname);
        Router::new(&router).map_err(|e| {
            anyhow::anyhow!(
                "invalid configuration: `relay_url` (SLUICE_RELAY_URL) or `delivery.routes`: {e}"
            )
        })?;
        let mut worker = self
            .delivery
            .worker_config(router, self.workers)
            .map_err(|e| refuse(e.within("delivery")))?;
        worker.reputation_hold = self.reputation.hold_interval;
        worker.tls_policy.extra_roots = self.tls_extra_roots()?.unwrap_or_default();
        if let Some(mail) = &mut worker.tls_policy.report_mail {
            mail.quotas = self.quotas;
        }
        Ok(worker)
    }

    /// `delivery.tls_extra_roots`, read and checked (at least one certificate).
    fn tls_extra_roots(&self) -> anyhow::Result<Option<Vec<u8>>> {
        let Some(path) = self.delivery.tls_extra_roots.as_deref() else {
            return Ok(None);
        };
        let bad = |reason: String| {
            anyhow::anyhow!(
                "invalid configuration: `delivery.tls_extra_roots` (SLUICE_DELIVERY_TLS_EXTRA_ROOTS) {path}: {reason}"
            )
        };
        let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
        RelayTrust::with_pem(&pem).map_err(|e| bad(e.to_string()))?;
        Ok(Some(pem))
    }

    /// The SMTP connection pool's limits and timeouts.
    pub fn pool_config(&self) -> PoolConfig {
        self.delivery.pool_config()
    }

    /// The roots relay certificates (and MX hosts verified under an MTA-STS
    /// policy) are verified against: the Mozilla roots, plus `delivery.relay_ca_file`
    /// and `delivery.tls_extra_roots` when set.
    pub fn relay_trust(&self) -> anyhow::Result<RelayTrust> {
        let trust = match self.tls_extra_roots()? {
            Some(pem) => RelayTrust::with_pem(&pem).map_err(|e| anyhow::anyhow!("{e}"))?,
            None => RelayTrust::default(),
        };
        let Some(path) = self.delivery.relay_ca_file.as_deref() else {
            return Ok(trust);
        };
        let bad = |reason: String| {
            anyhow::anyhow!(
                "invalid configuration: `delivery.relay_ca_file` (SLUICE_DELIVERY_RELAY_CA_FILE) {path}: {reason}"
            )
        };
        let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
        trust.and_pem(&pem).map_err(|e| bad(e.to_string()))
    }

    /// Pools and providers as `GET /v1/admin/delivery` shows them.
    pub fn delivery_view(&self) -> anyhow::Result<DeliveryConfigView> {
        let d = &self.delivery;
        let within = |e: sluice_model::setting::InvalidSetting| refuse(e.within("delivery"));
        let pools = d.pools(&self.hostname).map_err(within)?;
        let stream_pools = d.stream_pools(&pools).map_err(within)?;
        let providers = d.providers().map_err(within)?;
        let dnsbl = d.dnsbl_settings().map_err(within)?;
        let mut view = view(&pools, &stream_pools, &providers);
        view.dnsbl = dnsbl
            .zones
            .into_iter()
            .map(|z| DnsblZoneView {
                zone: z.zone,
                listed: z
                    .listed
                    .map(|codes| codes.iter().map(ToString::to_string).collect()),
                providers: z.providers,
            })
            .collect();
        view.dnsbl_interval_seconds = dnsbl.interval.as_secs();
        Ok(view)
    }
}

/// The admin API's view of the worker's pools (with the streams that use each by
/// default) and its provider table. Built here, where both crates meet: the API crate
/// does not depend on the delivery crate (nor on its SMTP client).
fn view(
    pools: &[(String, Vec<Source>)],
    stream_pools: &[(MessageStream, String)],
    providers: &ProviderTable,
) -> DeliveryConfigView {
    let pools = pools
        .iter()
        .map(|(name, sources)| PoolView {
            name: name.clone(),
            streams: stream_pools
                .iter()
                .filter(|(_, pool)| pool == name)
                .map(|(stream, _)| stream.as_str().to_string())
                .collect(),
            sources: sources
                .iter()
                .map(|s| SourceView {
                    ip: s.ip.to_string(),
                    ehlo_name: s.helo_name.clone(),
                    warmup: s.warmup.as_ref().map(|w| WarmupScheduleView {
                        start: day_name(w.start_day),
                        start_day: w.start_day,
                        daily_caps: w.daily_caps.clone(),
                    }),
                })
                .collect(),
        })
        .collect();
    let providers = providers
        .rules()
        .map(|(rule, builtin)| ProviderView {
            name: rule.name.clone(),
            mx_patterns: rule.mx_patterns.clone(),
            builtin,
            max_connections_per_ip: rule.limits.max_connections_per_ip,
            messages_per_connection: rule.limits.messages_per_connection,
            messages_per_minute_per_ip: rule.limits.messages_per_minute_per_ip,
            messages_per_hour_per_ip: rule.limits.messages_per_hour_per_ip,
        })
        .collect();
    DeliveryConfigView {
        pools,
        providers,
        ..DeliveryConfigView::default()
    }
}

/// `YYYY-MM-DD` of a day counted from 1970-01-01.
fn day_name(day: i64) -> String {
    let date = OffsetDateTime::UNIX_EPOCH + time::Duration::days(day);
    let (y, m, d) = (date.year(), u8::from(date.month()), date.day());
    format!("{y:04}-{m:02}-{d:02}")
}
