//! The blocklist watch as `GET /v1/admin/delivery` shows it: the zones watched, and
//! per source address its current listings and the last check on every zone.

use std::collections::BTreeMap;

use serde::Serialize;
use sluice_store::dnsbl::{DnsblResult, DnsblStatus};
use time::OffsetDateTime;
use utoipa::ToSchema;

/// One `[[delivery.dnsbl]]` zone.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct DnsblZoneView {
    #[schema(example = "zen.spamhaus.org")]
    pub zone: String,
    /// The answers that mean listed; `null`: any 127.0.0.0/8 answer outside
    /// 127.255.255.0/24.
    pub listed: Option<Vec<String>>,
    /// The providers a listing applies to; `null`: every provider.
    pub providers: Option<Vec<String>>,
}

/// The watch's state.
#[derive(Clone, Debug, Default, Serialize, ToSchema)]
pub struct BlocklistView {
    /// When the last round of lookups ran, and which worker process ran it.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_round_at: Option<OffsetDateTime>,
    pub last_round_by: Option<String>,
    /// Every source address that was checked or is listed.
    pub addresses: Vec<AddressBlocklistView>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AddressBlocklistView {
    #[schema(example = "192.0.2.10")]
    pub ip: String,
    /// `true` while a listing takes the address out of rotation (for the zone's
    /// providers).
    pub listed: bool,
    pub listings: Vec<ListingView>,
    /// The last check on each zone (refused queries and lookup errors included).
    pub checks: Vec<CheckView>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ListingView {
    #[schema(example = "zen.spamhaus.org")]
    pub zone: String,
    /// The blocklist's answer when the listing was first seen.
    #[schema(example = "127.0.0.2")]
    pub answer: String,
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CheckView {
    pub zone: String,
    /// `listed`, `not_listed`, `refused` (a 127.255.255.x answer: not a listing) or
    /// `error` (the lookup failed): the last two change nothing.
    #[schema(example = "not_listed")]
    pub result: String,
    pub answer: Option<String>,
    pub error: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub checked_at: OffsetDateTime,
}

fn entry<'a>(
    addresses: &'a mut BTreeMap<String, AddressBlocklistView>,
    ip: &str,
) -> &'a mut AddressBlocklistView {
    addresses
        .entry(ip.to_string())
        .or_insert_with(|| AddressBlocklistView {
            ip: ip.to_string(),
            listed: false,
            listings: Vec::new(),
            checks: Vec::new(),
        })
}

impl From<DnsblStatus> for BlocklistView {
    fn from(status: DnsblStatus) -> Self {
        let mut addresses: BTreeMap<String, AddressBlocklistView> = BTreeMap::new();
        for listing in status.listings {
            let address = entry(&mut addresses, &listing.ip);
            address.listed = true;
            address.listings.push(ListingView {
                zone: listing.zone,
                answer: listing.answer,
                since: listing.since,
            });
        }
        for check in status.checks {
            let result = match check.result {
                DnsblResult::Listed => "listed",
                DnsblResult::NotListed => "not_listed",
                DnsblResult::Refused => "refused",
                DnsblResult::Error => "error",
            };
            entry(&mut addresses, &check.ip).checks.push(CheckView {
                zone: check.zone,
                result: result.to_string(),
                answer: check.answer,
                error: check.error,
                checked_at: check.checked_at,
            });
        }
        Self {
            last_round_at: status.round.as_ref().map(|r| r.at),
            last_round_by: status.round.map(|r| r.by),
            addresses: addresses.into_values().collect(),
        }
    }
}
