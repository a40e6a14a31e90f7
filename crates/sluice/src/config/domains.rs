//! `[domains]` (`SLUICE_DOMAINS_<KEY>`): verification of sending domains and DKIM key
//! rotation; and `dkim_key_encryption_key`, which seals DKIM private keys in Redis.

use std::time::Duration;

use anyhow::bail;
use serde::{Deserialize, Serialize};
use sluice_delivery::config::parse_name_servers;
use sluice_domains::{DomainSettings, ResolverConfig};
use sluice_model::setting::positive;
use sluice_store::KeySealer;

use super::Config;
use super::keys::refuse;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DomainsConfig {
    /// Refuse sends from domains whose DNS is not verified
    /// (`SLUICE_DOMAINS_REQUIRE_VERIFIED`). Unset: on for `sluice serve`, `api` and
    /// `worker`; off for `sluice dev`, whose domain has no real DNS.
    pub require_verified: Option<bool>,
    /// How often every domain's DNS is checked again; a verified domain whose records
    /// disappeared becomes unverified with a `domain.verification_failed` event.
    #[serde(with = "sluice_model::duration")]
    pub reverify_interval: Duration,
    /// How long a replaced DKIM key's record must stay published after the new key
    /// takes over (mail signed with it may still be checked meanwhile).
    #[serde(with = "sluice_model::duration")]
    pub dkim_overlap: Duration,
    /// Name servers (`ip:port`) for verification lookups; empty = `delivery.dns_servers`.
    pub dns_servers: Vec<String>,
}

impl Default for DomainsConfig {
    fn default() -> Self {
        Self {
            require_verified: None,
            reverify_interval: Duration::from_secs(6 * 3600),
            dkim_overlap: Duration::from_secs(7 * 86_400),
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
            self.delivery.dns_servers()
        } else {
            parse_name_servers("dns_servers", &self.domains.dns_servers)
                .map_err(|e| e.within("domains"))
        };
        Ok(ResolverConfig {
            name_servers: name_servers.map_err(refuse)?,
            ..ResolverConfig::default()
        })
    }

    /// Verification and rotation settings, validated (names the key at fault).
    pub fn domain_settings(
        &self,
        dns: sluice_domains::dkim::DnsRecordSettings,
    ) -> anyhow::Result<DomainSettings> {
        let d = &self.domains;
        let wait = |key: &str, value: Duration| {
            positive(key, value).map_err(|e| refuse(e.within("domains")))
        };
        Ok(DomainSettings {
            dns,
            dkim_overlap: wait("dkim_overlap", d.dkim_overlap)?,
            reverify_interval: wait("reverify_interval", d.reverify_interval)?,
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
            assert_eq!(config.domains.reverify_interval, Duration::from_secs(90));
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
