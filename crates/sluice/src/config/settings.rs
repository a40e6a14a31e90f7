//! From the configuration to what the API runs with: each part converted once, by
//! the conversion of its section (the worker's is [`Config::worker_config`], the
//! webhook service's [`Config::webhook_config`]).

use sluice_api::ApiSettings;
use sluice_domains::DomainVerifier;
use sluice_domains::dkim::DnsRecordSettings;
use sluice_model::Limits;

use super::Config;

impl Config {
    /// Everything the HTTP API needs.
    pub fn api_settings(&self) -> anyhow::Result<ApiSettings> {
        Ok(ApiSettings {
            limits: Limits {
                max_message_bytes: self.max_message_bytes,
                ..Limits::default()
            },
            admin_token: self.admin_token.clone(),
            admin_jwt: self.admin_jwt_verifier()?,
            delivery: self.delivery_view()?,
            webhooks: self.webhook_api_settings()?,
            quotas: self.quotas,
            dns: self.dns_record_settings(),
            domains: sluice_api::routes::domains::DomainApiSettings {
                require_verified: self.require_verified(),
                verifier: self.domain_verifier()?,
            },
            templates: self.template_sandbox()?,
            metrics_token: self.metrics_token(),
            reputation: self.reputation_policy()?,
        })
    }

    /// What tenants are told to publish (and what verification checks).
    pub fn dns_record_settings(&self) -> DnsRecordSettings {
        DnsRecordSettings {
            spf_include: self
                .dns
                .spf_include
                .clone()
                .unwrap_or_else(|| format!("_spf.{}", self.hostname)),
            return_path_target: self
                .dns
                .return_path_target
                .clone()
                .unwrap_or_else(|| self.hostname.clone()),
            dmarc_rua: self.dns.dmarc_rua.clone(),
        }
    }

    /// Checks sending domains' DNS, with the name servers of `domains.dns_servers`.
    pub fn domain_verifier(&self) -> anyhow::Result<DomainVerifier> {
        let settings = self.domain_settings(self.dns_record_settings())?;
        DomainVerifier::new(&self.domain_resolver()?, settings)
            .map_err(|e| anyhow::anyhow!("invalid configuration: `domains.dns_servers`: {e}"))
    }
}
