//! `[[delivery.pools]]`: named sets of source addresses, each with an optional
//! warm-up ramp.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sluice_model::setting::InvalidSetting;

use super::DeliveryConfig;
use crate::worker::{Source, WarmupSchedule};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpPoolConfig {
    pub name: String,
    pub sources: Vec<String>,
    /// A ramp for new addresses: `{ start = "2026-11-20", daily_caps = [50, 100, 500] }`,
    /// messages per (IP × provider) per UTC day; warm (uncapped) after the last day.
    #[serde(default)]
    pub warmup: Option<WarmupConfig>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarmupConfig {
    /// The ramp's first day, `YYYY-MM-DD` (UTC).
    pub start: String,
    pub daily_caps: Vec<u32>,
}

impl DeliveryConfig {
    /// Every pool by name, validated (tenants may be assigned any of them); a source
    /// greets with its `ehlo_names` entry, else `helo_name`.
    pub fn pools(&self, helo_name: &str) -> Result<Vec<(String, Vec<Source>)>, InvalidSetting> {
        let refuse = |problem: String| InvalidSetting::new("pools", problem);
        let mut pools: BTreeMap<&str, Vec<Source>> = BTreeMap::new();
        for pool in &self.pools {
            if pool.sources.is_empty() {
                return Err(refuse(format!("pool `{}` has no sources", pool.name)));
            }
            let warmup = match &pool.warmup {
                None => None,
                Some(w) => Some(Arc::new(w.schedule().map_err(|problem| {
                    refuse(format!("pool `{}`: {problem}", pool.name))
                })?)),
            };
            let sources = pool
                .sources
                .iter()
                .map(|ip| {
                    let parsed: IpAddr = ip.parse().map_err(|_| {
                        refuse(format!("pool `{}`: `{ip}` is not an IP address", pool.name))
                    })?;
                    let helo_name = self
                        .ehlo_names
                        .get(ip)
                        .cloned()
                        .unwrap_or_else(|| helo_name.to_string());
                    Ok(Source {
                        ip: parsed,
                        helo_name,
                        warmup: warmup.clone(),
                    })
                })
                .collect::<Result<Vec<_>, InvalidSetting>>()?;
            if pools.insert(&pool.name, sources).is_some() {
                return Err(refuse(format!("names `{}` twice", pool.name)));
            }
        }
        Ok(pools
            .into_iter()
            .map(|(name, sources)| (name.to_string(), sources))
            .collect())
    }
}

impl WarmupConfig {
    /// The ramp, counted in days since 1970-01-01.
    fn schedule(&self) -> Result<WarmupSchedule, String> {
        let format = time::macros::format_description!("[year]-[month]-[day]");
        let start = time::Date::parse(&self.start, &format)
            .map_err(|_| format!("warmup start `{}` is not YYYY-MM-DD", self.start))?;
        if self.daily_caps.is_empty() || self.daily_caps.contains(&0) {
            return Err("warmup daily_caps must be positive numbers".into());
        }
        Ok(WarmupSchedule {
            start_day: start
                .midnight()
                .assume_utc()
                .unix_timestamp()
                .div_euclid(86_400),
            daily_caps: self.daily_caps.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn pools_take_their_ehlo_names_and_warm_up_ramps() {
        let mut config = DeliveryConfig {
            pools: vec![IpPoolConfig {
                name: "warm".into(),
                sources: vec!["192.0.2.10".into(), "192.0.2.11".into()],
                warmup: Some(WarmupConfig {
                    start: "1970-01-03".into(),
                    daily_caps: vec![5, 10],
                }),
            }],
            ..DeliveryConfig::default()
        };
        config
            .ehlo_names
            .insert("192.0.2.10".into(), "mta1.example.test".into());
        let pools = config.pools("mta.example.test").unwrap();
        let sources = &pools[0].1;
        assert_eq!(sources[0].helo_name, "mta1.example.test");
        assert_eq!(sources[1].helo_name, "mta.example.test");
        assert_eq!(sources[0].warmup.as_ref().unwrap().start_day, 2);

        config.pools[0].warmup.as_mut().unwrap().start = "soon".into();
        assert_eq!(
            config.pools("x").unwrap_err().to_string(),
            "`pools` pool `warm`: warmup start `soon` is not YYYY-MM-DD"
        );
    }
}
