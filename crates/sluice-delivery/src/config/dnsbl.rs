//! `[[delivery.dnsbl]]`, `delivery.dnsbl_interval` and the operator webhook that
//! hears of listings (`delivery.operator_webhook_url`, `…_secret`).

use std::net::Ipv4Addr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sluice_model::setting::InvalidSetting;

use super::DeliveryConfig;
use crate::dnsbl::{DnsblSettings, DnsblZone, zone::is_refusal};

/// One `[[delivery.dnsbl]]` entry.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsblConfig {
    /// The blocklist's zone, e.g. `zen.spamhaus.org`.
    pub zone: String,
    /// The A records that mean "listed", e.g. `["127.0.0.2", "127.0.0.4"]`; default:
    /// any 127.0.0.0/8 answer except 127.255.255.0/24 ("query refused").
    #[serde(default)]
    pub listed: Option<Vec<String>>,
    /// The providers (`delivery.providers` names) a listing takes the address away
    /// from; default: every provider.
    #[serde(default)]
    pub providers: Option<Vec<String>>,
}

/// The shortest `dnsbl_interval`: public blocklists limit query rates.
const MIN_INTERVAL: Duration = Duration::from_secs(1);

impl DeliveryConfig {
    /// The blocklists to watch, checked: zones are DNS names, `listed` holds
    /// 127.0.0.0/8 addresses outside 127.255.255.0/24, `providers` names known
    /// providers.
    pub fn dnsbl_settings(&self) -> Result<DnsblSettings, InvalidSetting> {
        let interval = sluice_model::setting::positive("dnsbl_interval", self.dnsbl_interval)?;
        if interval < MIN_INTERVAL {
            return Err(InvalidSetting::new("dnsbl_interval", "must be at least 1s"));
        }
        let refuse = |problem: String| InvalidSetting::new("dnsbl", problem);
        let providers = self.providers()?;
        let known: Vec<&str> = providers.rules().map(|(r, _)| r.name.as_str()).collect();
        let mut zones: Vec<DnsblZone> = Vec::new();
        for entry in &self.dnsbl {
            let zone = entry.zone.trim_end_matches('.').to_ascii_lowercase();
            if !is_zone_name(&zone) {
                return Err(refuse(format!("zone `{}` is not a DNS name", entry.zone)));
            }
            if zones.iter().any(|z| z.zone == zone) {
                return Err(refuse(format!("names zone `{zone}` twice")));
            }
            let listed = match &entry.listed {
                None => None,
                Some(codes) if codes.is_empty() => {
                    return Err(refuse(format!(
                        "zone `{zone}`: `listed` is empty (leave it out for any 127.0.0.0/8 answer)"
                    )));
                }
                Some(codes) => Some(
                    codes
                        .iter()
                        .map(|code| listing_code(&zone, code).map_err(refuse))
                        .collect::<Result<Vec<_>, _>>()?,
                ),
            };
            if let Some(names) = &entry.providers
                && let Some(unknown) = names.iter().find(|n| !known.contains(&n.as_str()))
            {
                return Err(refuse(format!(
                    "zone `{zone}`: provider `{unknown}` is not in the provider table"
                )));
            }
            zones.push(DnsblZone {
                zone,
                listed,
                providers: entry.providers.clone(),
            });
        }
        Ok(DnsblSettings {
            zones,
            interval: self.dnsbl_interval,
        })
    }

    /// `operator_webhook_url` and `operator_webhook_secret`, checked: an `http(s)`
    /// URL (private addresses allowed: the operator chose it), a `whsec_` secret only
    /// with a URL.
    pub fn operator_webhook(&self) -> Result<Option<(String, Option<String>)>, InvalidSetting> {
        let Some(url) = &self.operator_webhook_url else {
            if self.operator_webhook_secret.is_some() {
                return Err(InvalidSetting::new(
                    "operator_webhook_secret",
                    "is set without operator_webhook_url",
                ));
            }
            return Ok(None);
        };
        sluice_model::webhook_url::parse_url(url, true)
            .map_err(|e| InvalidSetting::new("operator_webhook_url", e.to_string()))?;
        if let Some(secret) = &self.operator_webhook_secret {
            sluice_wire::WebhookSecret::parse(secret).map_err(|e| {
                InvalidSetting::new("operator_webhook_secret", format!("{e} (whsec_<base64>)"))
            })?;
        }
        Ok(Some((url.clone(), self.operator_webhook_secret.clone())))
    }
}

fn listing_code(zone: &str, code: &str) -> Result<Ipv4Addr, String> {
    let refused = || {
        format!(
            "zone `{zone}`: listed answer `{code}` must be an address in 127.0.0.0/8 outside 127.255.255.0/24"
        )
    };
    let ip: Ipv4Addr = code.parse().map_err(|_| refused())?;
    if ip.octets()[0] != 127 || is_refusal(ip) {
        return Err(refused());
    }
    Ok(ip)
}

/// Letters, digits, `-` and `_` in dot-separated labels of 1 to 63, at least two
/// labels, short enough for an IPv6 query name (64 characters) in front.
fn is_zone_name(zone: &str) -> bool {
    zone.len() <= 253 - 64
        && zone.split('.').count() >= 2
        && zone.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn with(entries: Vec<DnsblConfig>) -> DeliveryConfig {
        DeliveryConfig {
            dnsbl: entries,
            ..DeliveryConfig::default()
        }
    }

    fn entry(zone: &str, listed: Option<&[&str]>, providers: Option<&[&str]>) -> DnsblConfig {
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        DnsblConfig {
            zone: zone.into(),
            listed: listed.map(strings),
            providers: providers.map(strings),
        }
    }

    #[test]
    fn zones_are_checked_and_named_in_refusals() {
        let ok = with(vec![
            entry("Zen.Spamhaus.org.", Some(&["127.0.0.2", "127.0.0.4"]), None),
            entry("b.barracudacentral.org", None, Some(&["gmail"])),
        ]);
        let settings = ok.dnsbl_settings().unwrap();
        assert_eq!(settings.zones[0].zone, "zen.spamhaus.org");
        assert_eq!(settings.zones[0].listed.as_ref().unwrap().len(), 2);
        assert_eq!(settings.interval, crate::dnsbl::DEFAULT_INTERVAL);

        let refusal = |config: DeliveryConfig| config.dnsbl_settings().unwrap_err().to_string();
        assert!(refusal(with(vec![entry("not a zone", None, None)])).contains("`dnsbl` zone"));
        assert!(
            refusal(with(vec![entry(
                "zen.test",
                Some(&["127.255.255.254"]),
                None
            )]))
            .contains("outside 127.255.255.0/24")
        );
        assert!(
            refusal(with(vec![entry("zen.test", Some(&["10.0.0.2"]), None)]))
                .contains("127.0.0.0/8")
        );
        assert!(
            refusal(with(vec![entry("zen.test", None, Some(&["nobody"]))]))
                .contains("provider `nobody`")
        );
        let mut fast = with(vec![]);
        fast.dnsbl_interval = Duration::from_millis(10);
        assert!(refusal(fast).starts_with("`dnsbl_interval`"));
    }

    #[test]
    fn the_operator_webhook_needs_a_url_and_a_whsec_secret() {
        let mut config = DeliveryConfig::default();
        assert_eq!(config.operator_webhook().unwrap(), None);
        config.operator_webhook_secret =
            Some("whsec_b3BlcmF0b3Itd2ViaG9vay1zZWNyZXQtMDEyMzQ1Ng==".into());
        assert!(config.operator_webhook().is_err());
        config.operator_webhook_url = Some("http://127.0.0.1:9/hooks".into());
        assert!(config.operator_webhook().unwrap().is_some());
        config.operator_webhook_secret = Some("plain".into());
        assert!(
            config
                .operator_webhook()
                .unwrap_err()
                .to_string()
                .starts_with("`operator_webhook_secret`")
        );
        config.operator_webhook_url = Some("ftp://x".into());
        assert!(config.operator_webhook().is_err());
    }
}
