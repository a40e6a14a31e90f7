//! `delivery.mta_sts*` and `delivery.tls_*`: outbound TLS policy (see
//! [`crate::tls_policy`]). The extra roots file is read by the binary.

use sluice_model::setting::InvalidSetting;
use sluice_model::{Mailbox, TenantId, TenantQuotas};

use super::DeliveryConfig;
use crate::tls_policy::TlsPolicyConfig;
use crate::tls_policy::mail::MailSender;
use crate::tls_policy::report::ReportIdentity;

impl DeliveryConfig {
    /// MTA-STS and TLS-RPT as the worker runs them; `hostname` names the reports'
    /// submitter (and their organisation unless `tls_rpt_org_name`). The extra
    /// roots are left empty here: the binary reads `tls_extra_roots`.
    pub fn tls_policy_config(&self, hostname: &str) -> Result<TlsPolicyConfig, InvalidSetting> {
        if self.mta_sts_port == 0 {
            return Err(InvalidSetting::new("mta_sts_port", "must not be 0"));
        }
        let text = |key: &'static str, value: &Option<String>| match value.as_deref() {
            Some(v) if v.trim().is_empty() || v.contains(['\r', '\n']) => Err(InvalidSetting::new(
                key,
                "must be one non-empty line when set",
            )),
            other => Ok(other.map(|v| v.trim().to_owned())),
        };
        let organization = text("tls_rpt_org_name", &self.tls_rpt_org_name)?;
        let contact = text("tls_rpt_contact", &self.tls_rpt_contact)?;
        let tls_rpt = self.tls_rpt.then(|| ReportIdentity {
            organization: organization.unwrap_or_else(|| hostname.to_owned()),
            contact,
            submitter: hostname.to_owned(),
        });
        let report_mail = match (&self.tls_rpt_from, &self.tls_rpt_tenant) {
            (None, None) => None,
            (Some(from), Some(tenant)) => Some(MailSender {
                tenant: TenantId::parse(tenant).map_err(|e| {
                    InvalidSetting::new("tls_rpt_tenant", format!("is not a tenant id: {e}"))
                })?,
                from: Mailbox::parse(from).map_err(|e| {
                    InvalidSetting::new("tls_rpt_from", format!("is not an address: {e}"))
                })?,
                quotas: TenantQuotas::default(),
            }),
            (Some(_), None) => {
                return Err(InvalidSetting::new(
                    "tls_rpt_tenant",
                    "must be set with tls_rpt_from",
                ));
            }
            (None, Some(_)) => {
                return Err(InvalidSetting::new(
                    "tls_rpt_from",
                    "must be set with tls_rpt_tenant",
                ));
            }
        };
        Ok(TlsPolicyConfig {
            mta_sts: self.mta_sts,
            port: self.mta_sts_port,
            tls_rpt,
            report_mail,
            ..TlsPolicyConfig::default()
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn defaults_and_refusals() {
        let mut config = DeliveryConfig::default();
        let tls = config.tls_policy_config("mta.test").unwrap();
        assert!(tls.mta_sts && tls.tls_rpt.is_none());
        assert_eq!(tls.port, 443);
        config.tls_rpt = true;
        let identity = config
            .tls_policy_config("mta.test")
            .unwrap()
            .tls_rpt
            .unwrap();
        assert_eq!(identity.organization, "mta.test");
        config.mta_sts_port = 0;
        assert_eq!(
            config.validate().unwrap_err().to_string(),
            "`mta_sts_port` must not be 0"
        );
        config.mta_sts_port = 443;
        config.tls_rpt_from = Some("tls@acme.test".into());
        assert_eq!(
            config.validate().unwrap_err().to_string(),
            "`tls_rpt_tenant` must be set with tls_rpt_from"
        );
        config.tls_rpt_tenant = Some("ten_01jd4k5q8z6y2x1w0v9t8s7r6p".into());
        let mail = config
            .tls_policy_config("mta.test")
            .unwrap()
            .report_mail
            .unwrap();
        assert_eq!(mail.from.address.domain(), "acme.test");
        config.tls_rpt_tenant = Some("acme".into());
        assert!(config.validate().is_err());
        config.tls_rpt_tenant = None;
        config.tls_rpt_from = None;
        config.tls_rpt_contact = Some("a\nb".into());
        assert_eq!(
            config.validate().unwrap_err().to_string(),
            "`tls_rpt_contact` must be one non-empty line when set"
        );
    }
}
