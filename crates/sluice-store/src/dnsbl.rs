//! The blocklist watch's shared state: which source address is listed on which DNS
//! blocklist since when, the last check of every (address × zone), the last round,
//! and the lease that lets one process at a time run the lookups.
//!
//! A listing is kept apart from the adaptive suspensions and operator pauses
//! (`adaptive`): an operator's resume or a run of clean deliveries never clears it,
//! and only a round that finds the address no longer listed does. A round's results,
//! the listings that begin or end with it and their `ip.listed` / `ip.delisted`
//! operator events are written in one script call (`scripts/dnsbl_record.lua`).

use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::Duration;

use redis::Script;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::reply::Reply;
use crate::{Store, StoreError, from_ms, keys, now_ms};

/// About the last thousand operator events are kept.
const EVENTS_KEPT: u32 = 1000;

/// See `scripts/dnsbl_record.lua`.
static RECORD: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/dnsbl_record.lua")));

/// How one lookup of one address on one zone came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DnsblResult {
    Listed,
    NotListed,
    /// The blocklist refused the query (127.255.255.x: e.g. Spamhaus refusing public
    /// resolvers): nothing is known, and nothing changes.
    Refused,
    /// The lookup failed (timeout, SERVFAIL, an answer outside 127.0.0.0/8):
    /// nothing is known, and nothing changes.
    Error,
}

/// The last check of one (address × zone).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsblCheck {
    pub ip: String,
    pub zone: String,
    pub result: DnsblResult,
    /// The A record the zone answered, if any.
    pub answer: Option<String>,
    /// Why the lookup failed.
    pub error: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub checked_at: OffsetDateTime,
}

/// An address listed on a zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsblListing {
    pub ip: String,
    pub zone: String,
    /// The answer when the listing was first seen.
    pub answer: String,
    pub since: OffsetDateTime,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DnsblChangeKind {
    Listed,
    Delisted,
}

impl DnsblChangeKind {
    /// The operator event's type: `ip.listed` or `ip.delisted`.
    pub fn event_type(self) -> &'static str {
        match self {
            Self::Listed => "ip.listed",
            Self::Delisted => "ip.delisted",
        }
    }
}

/// A listing that began or ended with a round.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsblChange {
    pub kind: DnsblChangeKind,
    pub listing: DnsblListing,
    /// The operator event's id in the event stream (stable: a receiver deduplicates on it).
    pub event_id: String,
}

/// Who ran the last round, and when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsblRound {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub by: String,
}

/// Everything the admin view shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DnsblStatus {
    pub round: Option<DnsblRound>,
    pub listings: Vec<DnsblListing>,
    pub checks: Vec<DnsblCheck>,
}

impl Store {
    /// Takes this interval's lookups for `holder` (`SET NX PX`): `true` when no other
    /// process ran them within `lease`. The lease is never released early, so rounds
    /// are at least `lease` apart across every process; a holder that dies mid-round
    /// only costs that round.
    pub async fn take_dnsbl_lease(
        &self,
        holder: &str,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let taken: redis::Value = redis::cmd("SET")
            .arg(keys::dnsbl_lease())
            .arg(holder)
            .arg("NX")
            .arg("PX")
            .arg(lease.as_millis().max(1) as u64)
            .query_async(&mut self.conn())
            .await?;
        Ok(!matches!(taken, redis::Value::Nil))
    }

    /// Records a round's checks by `holder`: listings found begin, pairs found not
    /// listed (or no longer in `checks` at all) end, each change with its event. A
    /// refused or failed lookup changes nothing. Returns the changes.
    pub async fn record_dnsbl_round(
        &self,
        holder: &str,
        checks: &[DnsblCheck],
    ) -> Result<Vec<DnsblChange>, StoreError> {
        let now = now_ms();
        let round = DnsblRound {
            at: from_ms(now),
            by: holder.to_string(),
        };
        let mut invocation = RECORD.prepare_invoke();
        for key in keys::dnsbl_keys() {
            invocation.key(key);
        }
        invocation.arg(now).arg(json(&round)?).arg(EVENTS_KEPT);
        for check in checks {
            let verdict = match check.result {
                DnsblResult::Listed => 1,
                DnsblResult::NotListed => 0,
                DnsblResult::Refused | DnsblResult::Error => -1,
            };
            invocation
                .arg(pair(&check.ip, &check.zone))
                .arg(verdict)
                .arg(check.answer.as_deref().unwrap_or(""))
                .arg(json(check)?);
        }
        let value: redis::Value = invocation.invoke_async(&mut self.conn()).await?;
        decode_changes(Reply::new("dnsbl_record", value)?)
    }

    /// Every current listing (the worker's view of which address may not send).
    pub async fn dnsbl_listings(&self) -> Result<Vec<DnsblListing>, StoreError> {
        let [listed, ..] = keys::dnsbl_keys();
        let fields: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(&listed)
            .query_async(&mut self.conn())
            .await?;
        let mut listings = fields
            .into_iter()
            .map(|(pair, value)| listing(&listed, &pair, &value))
            .collect::<Result<Vec<_>, _>>()?;
        listings.sort_by(|a, b| (&a.ip, &a.zone).cmp(&(&b.ip, &b.zone)));
        Ok(listings)
    }

    /// Listings, last checks and the last round, for the admin API.
    pub async fn dnsbl_status(&self) -> Result<DnsblStatus, StoreError> {
        let listings = self.dnsbl_listings().await?;
        let [_, checks_key, _, round_key] = keys::dnsbl_keys();
        let checks: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(&checks_key)
            .query_async(&mut self.conn())
            .await?;
        let mut checks = checks
            .values()
            .map(|value| parse::<DnsblCheck>(&checks_key, value))
            .collect::<Result<Vec<_>, _>>()?;
        checks.sort_by(|a, b| (&a.ip, &a.zone).cmp(&(&b.ip, &b.zone)));
        let round: Option<String> = redis::cmd("GET")
            .arg(&round_key)
            .query_async(&mut self.conn())
            .await?;
        let round = round
            .map(|value| parse::<DnsblRound>(&round_key, &value))
            .transpose()?;
        Ok(DnsblStatus {
            round,
            listings,
            checks,
        })
    }
}

/// `<ip>|<zone>`: an address never holds a `|`.
fn pair(ip: &str, zone: &str) -> String {
    format!("{ip}|{zone}")
}

fn json<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt {
        key: "dnsbl".into(),
        reason: e.to_string(),
    })
}

fn parse<T: for<'de> Deserialize<'de>>(key: &str, value: &str) -> Result<T, StoreError> {
    serde_json::from_str(value).map_err(|e| StoreError::Corrupt {
        key: key.to_string(),
        reason: e.to_string(),
    })
}

/// A listings hash entry: `<ip>|<zone>` → `<since ms>|<answer>`.
fn listing(key: &str, pair: &str, value: &str) -> Result<DnsblListing, StoreError> {
    let corrupt = || StoreError::Corrupt {
        key: format!("{key} {pair}"),
        reason: format!("not <since ms>|<answer>: {value}"),
    };
    let (ip, zone) = pair.split_once('|').ok_or_else(corrupt)?;
    let (since, answer) = value.split_once('|').ok_or_else(corrupt)?;
    let since: i64 = since.parse().map_err(|_| corrupt())?;
    Ok(DnsblListing {
        ip: ip.to_string(),
        zone: zone.to_string(),
        answer: answer.to_string(),
        since: from_ms(since),
    })
}

/// `{type, <ip>|<zone>, answer, since ms, event id}` per change.
fn decode_changes(mut reply: Reply) -> Result<Vec<DnsblChange>, StoreError> {
    let mut changes = Vec::with_capacity(reply.len());
    while !reply.is_empty() {
        let mut item = reply.array("change")?;
        let kind = match item.text("type")?.as_str() {
            "ip.listed" => DnsblChangeKind::Listed,
            "ip.delisted" => DnsblChangeKind::Delisted,
            other => return Err(item.error(format!("unknown change {other}"))),
        };
        let pair = item.text("pair")?;
        let (ip, zone) = pair
            .split_once('|')
            .ok_or_else(|| item.error(format!("not <ip>|<zone>: {pair}")))?;
        let answer = item.text("answer")?;
        let since = item.int("since")?;
        let event_id = item.text("event id")?;
        item.end()?;
        changes.push(DnsblChange {
            kind,
            listing: DnsblListing {
                ip: ip.to_string(),
                zone: zone.to_string(),
                answer,
                since: from_ms(since),
            },
            event_id,
        });
    }
    Ok(changes)
}
