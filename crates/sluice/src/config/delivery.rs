//! The binary's side of `[delivery]` ([`DeliveryConfig`](super::DeliveryConfig), beside
//! the worker): what joins it with top-level keys (`relay_url`, `hostname`, `workers`)
//! and what reads files.

use sluice_api::routes::delivery::DeliveryConfigView;
use sluice_delivery::routing::Router;
use sluice_delivery::smtp::{PoolConfig, RelayTrust};
use sluice_delivery::worker::WorkerConfig;

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
        self.delivery
            .worker_config(router, self.workers)
            .map_err(|e| refuse(e.within("delivery")))
    }

    /// The SMTP connection pool's limits and timeouts.
    pub fn pool_config(&self) -> PoolConfig {
        self.delivery.pool_config()
    }

    /// The roots relay certificates are verified against: the Mozilla roots, plus
    /// `delivery.relay_ca_file` when set.
    pub fn relay_trust(&self) -> anyhow::Result<RelayTrust> {
        let Some(path) = self.delivery.relay_ca_file.as_deref() else {
            return Ok(RelayTrust::default());
        };
        let bad = |reason: String| {
            anyhow::anyhow!(
                "invalid configuration: `delivery.relay_ca_file` (SLUICE_DELIVERY_RELAY_CA_FILE) {path}: {reason}"
            )
        };
        let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
        RelayTrust::with_pem(&pem).map_err(|e| bad(e.to_string()))
    }

    /// Pools and providers as `GET /v1/admin/delivery` shows them.
    pub fn delivery_view(&self) -> anyhow::Result<DeliveryConfigView> {
        let d = &self.delivery;
        let within = |e: sluice_model::setting::InvalidSetting| refuse(e.within("delivery"));
        let pools = d.pools(&self.hostname).map_err(within)?;
        let stream_pools = d.stream_pools(&pools).map_err(within)?;
        let providers = d.providers().map_err(within)?;
        Ok(DeliveryConfigView::new(&pools, &stream_pools, &providers))
    }
}
