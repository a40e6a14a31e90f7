//! This process's copy of the listings in Redis, refreshed every second or so, so
//! the shaper asks a local map, not Redis, for every sending slot.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::RwLock;

use sluice_store::dnsbl::DnsblListing;

use super::zone::DnsblZone;

#[derive(Debug, Default)]
pub struct Listings {
    zones: Vec<DnsblZone>,
    /// The zones each address is listed on (only zones this process watches).
    current: RwLock<HashMap<IpAddr, Vec<String>>>,
}

impl Listings {
    pub fn new(zones: Vec<DnsblZone>) -> Self {
        Self {
            zones,
            current: RwLock::default(),
        }
    }

    /// Whether a listing keeps `ip` from sending to `provider`.
    pub fn blocks(&self, ip: IpAddr, provider: &str) -> bool {
        let current = self.current.read().unwrap_or_else(|e| e.into_inner());
        current.get(&ip).is_some_and(|zones| {
            zones.iter().any(|listed| {
                self.zones
                    .iter()
                    .any(|z| &z.zone == listed && z.applies_to(provider))
            })
        })
    }

    /// Takes the listings read from Redis; `sluice_dnsbl_listed{ip,zone}` follows
    /// (1 while listed, 0 once delisted), the same in every worker process.
    pub fn replace(&self, listings: &[DnsblListing]) {
        let mut next: HashMap<IpAddr, Vec<String>> = HashMap::new();
        for listing in listings {
            let Ok(ip) = listing.ip.parse::<IpAddr>() else {
                continue;
            };
            // A zone no longer configured here no longer counts.
            if self.zones.iter().any(|z| z.zone == listing.zone) {
                next.entry(ip).or_default().push(listing.zone.clone());
            }
        }
        let pairs = |map: &HashMap<IpAddr, Vec<String>>| -> HashSet<(IpAddr, String)> {
            map.iter()
                .flat_map(|(ip, zones)| zones.iter().map(|z| (*ip, z.clone())))
                .collect()
        };
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        let (before, after) = (pairs(&current), pairs(&next));
        for (ip, zone) in before.difference(&after) {
            metrics::gauge!("sluice_dnsbl_listed", "ip" => ip.to_string(), "zone" => zone.clone())
                .set(0.0);
        }
        for (ip, zone) in &after {
            metrics::gauge!("sluice_dnsbl_listed", "ip" => ip.to_string(), "zone" => zone.clone())
                .set(1.0);
        }
        *current = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(ip: &str, zone: &str) -> DnsblListing {
        DnsblListing {
            ip: ip.into(),
            zone: zone.into(),
            answer: "127.0.0.2".into(),
            since: time::OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn listings_block_their_providers_on_watched_zones_only() {
        let zones = vec![
            DnsblZone {
                zone: "all.test".into(),
                listed: None,
                providers: None,
            },
            DnsblZone {
                zone: "outlook-only.test".into(),
                listed: None,
                providers: Some(vec!["outlook".into()]),
            },
        ];
        let view = Listings::new(zones);
        let (two, three) = (IpAddr::from([127, 0, 0, 2]), IpAddr::from([127, 0, 0, 3]));
        view.replace(&[
            listing("127.0.0.2", "all.test"),
            listing("127.0.0.3", "outlook-only.test"),
            listing("127.0.0.4", "forgotten.test"),
        ]);
        assert!(view.blocks(two, "gmail"));
        assert!(view.blocks(three, "outlook"));
        assert!(!view.blocks(three, "gmail"));
        assert!(!view.blocks(IpAddr::from([127, 0, 0, 4]), "gmail"));
        view.replace(&[]);
        assert!(!view.blocks(two, "gmail"), "a delisted address is back");
    }
}
