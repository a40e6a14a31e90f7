//! `[domains]` (`SLUICE_DOMAINS_<KEY>`): verification of sending domains and DKIM key
//! rotation; and `dkim_key_encryption_key`, which seals DKIM private keys in Redis.

use std::time::Duration;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use sluice_domains::{DomainSettings, ResolverConfig};
use sluice_store::KeySealer;

use super::{Config, parse_duration};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DomainsConfig {
    /// Refuse sends from domains whose DNS is not verified
    /// (`SLUICE_DOMAINS_REQUIRE_VERIFIED`). Unset: on for `sluice serve`, `api` and
    /// `worker`; off for `sluice dev`, whose domain has no real DNS.
    pub require_verified: Option<bool>,
    /// How often every domain's DNS is checked again; a verified domain whose records
    /// disappeared becomes unverified with a `domain.verification_failed` event.
    pub reverify_interval: String,
    /// How long a replaced DKIM key's record must stay published after the new key
    /// takes over (mail signed with it may still be checked meanwhile).
    pub dkim_overlap: String,
    /// Name servers (`ip:port`) for verification lookups; empty = `delivery.dns_servers`.
    pub dns_servers: Vec<String>,
}

impl Default for DomainsConfig {
    fn default() -> Self {
        Self {
            require_verified: None,
            reverify_interval: "6h".into(),
            dkim_overlap: "7d".into(),
            dns_servers: Vec::new(),
        }
    }
}

/// A configuration secret: kept as given, never printed by `{:?}`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Config {
    /// The sealer for DKIM private keys; the API and the worker cannot run without it.
    pub fn key_sealer(&self) -> anyhow::Result<KeySealer> {
        let Some(key) = &self.dkim_key_encryption_key else {
            bail!(
                "invalid configuration: `dkim_key_encryption_key` (SLUICE_DKIM_KEY_ENCRYPTION_KEY) is not set. DKIM private keys are stored encrypted with it; make one with `openssl rand -base64 32`, keep it safe (without it the stored keys cannot be used), and give the same key to every sluice process"
            );
        };
        KeySealer::from_base64(key.expose()).map_err(|e| {
            anyhow::anyhow!(
                "invalid configuration: `dkim_key_encryption_key` (SLUICE_DKIM_KEY_ENCRYPTION_KEY): {e}"
            )
        })
    }

    /// Whether sends need a verified domain (see [`DomainsConfig::require_verified`]).
    pub fn require_verified(&self) -> bool {
        self.domains.require_verified.unwrap_or(true)
    }

    /// The name servers verification asks.
    pub fn domain_resolver(&self) -> anyhow::Result<ResolverConfig> {
        let name_servers = if self.domains.dns_servers.is_empty() {
            self.dns_servers()?
        } else {
            self.domains
                .dns_servers
                .iter()
                .map(|s| {
                    s.parse().with_context(|| {
                        format!(
                            "invalid configuration: `domains.dns_servers` entry `{s}` is not ip:port"
                        )
                    })
                })
                .collect::<anyhow::Result<_>>()?
        };
        Ok(ResolverConfig {
            name_servers,
            ..ResolverConfig::default()
        })
    }

    /// Verification and rotation settings, validated (names the key at fault).
    pub fn domain_settings(
        &self,
        dns: sluice_domains::dkim::DnsRecordSettings,
    ) -> anyhow::Result<DomainSettings> {
        let duration = |key: &str, value: &str| -> anyhow::Result<Duration> {
            let parsed = parse_duration(value).with_context(|| {
                format!(
                    "invalid configuration: `domains.{key}` (SLUICE_DOMAINS_{})",
                    key.to_ascii_uppercase()
                )
            })?;
            if parsed.is_zero() {
                bail!("invalid configuration: `domains.{key}` must be more than zero");
            }
            Ok(parsed)
        };
        Ok(DomainSettings {
            dns,
            dkim_overlap: duration("dkim_overlap", &self.domains.dkim_overlap)?,
            reverify_interval: duration("reverify_interval", &self.domains.reverify_interval)?,
        })
    }

    /// Checks `[domains]` and the key's form when one is given (its absence is
    /// reported by the roles that need it, so `sluice dev` can make one).
    pub fn validate_domains(&self) -> anyhow::Result<()> {
        self.domain_resolver()?;
        self.domain_settings(sluice_domains::dkim::DnsRecordSettings {
            spf_include: String::new(),
            return_path_target: String::new(),
            dmarc_rua: None,
        })?;
        if self.dkim_key_encryption_key.is_some() {
            self.key_sealer()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API returns its own large error type.
    fn domain_settings_come_from_the_environment() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("SLUICE_DOMAINS_REQUIRE_VERIFIED", "false");
            jail.set_env("SLUICE_DOMAINS_REVERIFY_INTERVAL", "90s");
            let key = KeySealer::generate_base64().unwrap();
            jail.set_env("SLUICE_DKIM_KEY_ENCRYPTION_KEY", &key);
            let config = Config::load(None).unwrap();
            assert!(!config.require_verified());
            assert_eq!(config.domains.reverify_interval, "90s");
            assert!(config.key_sealer().is_ok());
            assert!(
                !format!("{config:?}").contains(&key),
                "the key must not print"
            );

            jail.set_env("SLUICE_DKIM_KEY_ENCRYPTION_KEY", "dG9vIHNob3J0");
            let error = Config::load(None).unwrap_err().to_string();
            assert!(error.contains("SLUICE_DKIM_KEY_ENCRYPTION_KEY"), "{error}");
            assert!(error.contains("openssl rand -base64 32"), "{error}");

            jail.set_env("SLUICE_DKIM_KEY_ENCRYPTION_KEY", &key);
            jail.set_env("SLUICE_DOMAINS_DKIM_OVERLAP", "soon");
            let error = format!("{:#}", Config::load(None).unwrap_err());
            assert!(error.contains("domains.dkim_overlap"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn serving_without_an_encryption_key_says_how_to_make_one() {
        let config = Config::default();
        assert!(config.require_verified(), "on by default");
        let error = config.key_sealer().unwrap_err().to_string();
        assert!(error.contains("SLUICE_DKIM_KEY_ENCRYPTION_KEY"), "{error}");
        assert!(error.contains("openssl rand -base64 32"), "{error}");
    }
}
