//! `[metrics]` (`SLUICE_METRICS_<KEY>`): who may scrape `/metrics`, and where.

use std::net::SocketAddr;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use super::{Config, Secret};

#[derive(Clone, Debug, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// The bearer token `GET /metrics` needs on the API port, at least 16 characters;
    /// unset = the admin token (and with neither, the route is off on the API port).
    pub token: Option<Secret>,
    /// A separate listener (`ip:port`) serving only `/metrics`, without authentication,
    /// in every role (so `sluice worker` exports its counters too). Bind it to a private
    /// interface. Unset or empty = no such listener.
    pub listen: Option<String>,
}

impl Config {
    /// The token `/metrics` needs on the API port.
    pub fn metrics_token(&self) -> Option<String> {
        match &self.metrics.token {
            Some(token) => Some(token.expose().to_string()),
            None => self.admin_token.clone(),
        }
    }

    /// Where the metrics-only listener listens, if anywhere.
    pub fn metrics_listen(&self) -> anyhow::Result<Option<SocketAddr>> {
        let Some(listen) = self.metrics.listen.as_deref().map(str::trim) else {
            return Ok(None);
        };
        if listen.is_empty() {
            return Ok(None);
        }
        let addr: SocketAddr = listen.parse().with_context(|| {
            format!(
                "invalid configuration: `metrics.listen` (SLUICE_METRICS_LISTEN) `{listen}` is not ip:port"
            )
        })?;
        Ok(Some(addr))
    }

    pub(super) fn validate_metrics(&self) -> anyhow::Result<()> {
        if matches!(&self.metrics.token, Some(t) if t.expose().len() < 16) {
            bail!(
                "invalid configuration: `metrics.token` (SLUICE_METRICS_TOKEN) must be at least 16 characters"
            );
        }
        self.metrics_listen()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    #[allow(clippy::result_large_err)]
    fn the_token_falls_back_to_the_admin_token() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("SLUICE_ADMIN_TOKEN", "admin-token-0123456789");
            let config = Config::load(None).unwrap();
            assert_eq!(
                config.metrics_token().as_deref(),
                Some("admin-token-0123456789")
            );
            assert_eq!(config.metrics_listen().unwrap(), None);

            jail.set_env("SLUICE_METRICS_TOKEN", "metrics-token-0123456789");
            jail.set_env("SLUICE_METRICS_LISTEN", "127.0.0.1:9464");
            let config = Config::load(None).unwrap();
            assert_eq!(
                config.metrics_token().as_deref(),
                Some("metrics-token-0123456789")
            );
            assert_eq!(
                config.metrics_listen().unwrap(),
                Some("127.0.0.1:9464".parse().unwrap())
            );

            jail.set_env("SLUICE_METRICS_LISTEN", "localhost");
            let error = format!("{:#}", Config::load(None).unwrap_err());
            assert!(error.contains("SLUICE_METRICS_LISTEN"), "{error}");
            jail.set_env("SLUICE_METRICS_LISTEN", "");
            jail.set_env("SLUICE_METRICS_TOKEN", "short");
            let error = format!("{:#}", Config::load(None).unwrap_err());
            assert!(error.contains("metrics.token"), "{error}");
            Ok(())
        });
    }
}
