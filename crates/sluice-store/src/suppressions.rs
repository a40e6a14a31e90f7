//! The per-tenant suppression list: addresses Sluice does not send to.
//!
//! One HASH holds the entries (lower-cased address → entry JSON), so the worker checks
//! every recipient of an attempt with one HMGET. Pages come from ZSETs whose members
//! are `<created_at ms, 15 digits>|<address>`, all scored 0 and read newest first by
//! lexical range: a cursor is a position, not an offset, so entries added or removed
//! meanwhile never shift a page, and a removed entry's cursor still works. A second
//! ZSET per reason makes a filtered page as cheap as an unfiltered one. Every write is
//! one script over the tenant's keys (one hash slot).
//!
//! The first reason wins: adding an address already on the list changes nothing and
//! returns the existing entry, so a manual add never hides a complaint, and an event
//! processed twice (the fan-out is at-least-once) adds its address once.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sluice_model::{MessageId, MessageStream, Suppression, SuppressionReason, TenantId};

use crate::reply::{self, Reply};
use crate::scripts::{Lua, Names};
use crate::{Store, StoreError, from_ms, keys, now_ms};

/// The names the scripts take first (`scripts/suppression_names.lua`): the entry
/// JSON's creation time (see [`Stored`]), and the order members' layout.
fn script_names() -> Vec<&'static str> {
    vec![CREATED_AT, STAMP_DIGITS_TEXT, MEMBER_SEPARATOR]
}

const NAMES: Names = Names::new(include_str!("scripts/suppression_names.lua"), script_names);

/// See `scripts/suppression_add.lua`.
static ADD: LazyLock<Lua> =
    LazyLock::new(|| Lua::new(&NAMES, &[], include_str!("scripts/suppression_add.lua")));

/// See `scripts/suppression_remove.lua`.
static REMOVE: LazyLock<Lua> =
    LazyLock::new(|| Lua::new(&NAMES, &[], include_str!("scripts/suppression_remove.lua")));

/// See `scripts/suppression_page.lua`.
static PAGE: LazyLock<Lua> =
    LazyLock::new(|| Lua::new(&NAMES, &[], include_str!("scripts/suppression_page.lua")));

/// The entry JSON's member the removal script rebuilds the order member from.
const CREATED_AT: &str = "created_at";

/// Between the stamp and the address in an order member.
const MEMBER_SEPARATOR: &str = "|";

/// [`STAMP_DIGITS`] for the scripts.
const STAMP_DIGITS_TEXT: &str = "15";

/// Digits of the created_at prefix of an order member.
const STAMP_DIGITS: usize = 15;

/// What the caller knows about an address being added.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewSuppression {
    pub reason: SuppressionReason,
    pub message_id: Option<MessageId>,
    pub event_id: Option<String>,
    pub note: Option<String>,
}

impl NewSuppression {
    /// An address added by hand (the API).
    pub fn manual(note: Option<String>) -> Self {
        Self {
            reason: SuppressionReason::Manual,
            message_id: None,
            event_id: None,
            note,
        }
    }
}

/// The result of adding one address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SuppressionAdded {
    /// `false` when the address was already on the list; `entry` is then the existing one.
    pub added: bool,
    pub entry: Suppression,
}

/// A position in a tenant's suppression list (opaque to clients: URL-safe base64).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SuppressionCursor(String);

impl SuppressionCursor {
    /// `None` for text that is not (canonical, unpadded) base64url. Any such text is
    /// a position in the list's order, so a page starts after it; one this store
    /// handed out starts exactly after the previous page.
    pub fn parse(value: &str) -> Option<Self> {
        let member = URL_SAFE_NO_PAD.decode(value).ok()?;
        Some(Self(String::from_utf8_lossy(&member).into_owned()))
    }
}

impl std::fmt::Display for SuppressionCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&URL_SAFE_NO_PAD.encode(&self.0))
    }
}

/// One page of a suppression list, newest first.
#[derive(Clone, Debug)]
pub struct SuppressionPage {
    pub entries: Vec<Suppression>,
    /// Where the next (older) page starts; `None` on the last page.
    pub next_cursor: Option<SuppressionCursor>,
}

/// An entry as stored in the hash (the address is the field name).
#[derive(Serialize, Deserialize)]
struct Stored {
    reason: SuppressionReason,
    /// Unix ms; also the order member's prefix, which removal rebuilds from it.
    created_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    message_id: Option<MessageId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    event_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

impl Stored {
    fn into_entry(self, address: String) -> Suppression {
        Suppression {
            address,
            reason: self.reason,
            created_at: from_ms(self.created_at),
            message_id: self.message_id,
            event_id: self.event_id,
            note: self.note,
        }
    }
}

/// Addresses are matched without regard to case.
fn normalize(address: &str) -> String {
    address.trim().to_lowercase()
}

/// `<created_at ms, STAMP_DIGITS digits><MEMBER_SEPARATOR><address>`.
fn order_member(created_at: i64, address: &str) -> String {
    format!("{created_at:0STAMP_DIGITS$}{MEMBER_SEPARATOR}{address}")
}

fn reason_index(reason: SuppressionReason) -> usize {
    SuppressionReason::ALL
        .iter()
        .position(|r| *r == reason)
        .map_or(1, |i| i + 1)
}

fn decode(key: &str, address: String, json: &str) -> Result<Suppression, StoreError> {
    let stored: Stored = serde_json::from_str(json)
        .map_err(|e| StoreError::corrupt(format!("{key} {address}"), e))?;
    Ok(stored.into_entry(address))
}

/// A script call with the keys every write touches: the entries, the order and each
/// reason's order.
fn write_keys<'a>(script: &'a Lua, tenant: &TenantId) -> redis::ScriptInvocation<'a> {
    let mut invocation = script.call();
    invocation.key(keys::suppressions(tenant));
    invocation.key(keys::suppression_order(tenant, None));
    for reason in SuppressionReason::ALL {
        invocation.key(keys::suppression_order(tenant, Some(reason)));
    }
    invocation
}

/// A tenant's suppression lists (see the module documentation).
/// What [`Store::attempt_checks`] found.
#[derive(Clone, Debug, Default)]
pub struct AttemptChecks {
    /// The recipients on the suppression list (lower-cased address → entry).
    pub suppressed: HashMap<String, Suppression>,
    /// The sending domain's version; `None`: the tenant has no such domain.
    pub domain_version: Option<u64>,
    /// The message is bulk and the tenant's bulk stream is paused (reputation guard).
    pub bulk_paused: bool,
}

impl Store {
    /// Adds `address` (keeping an existing entry and its reason).
    pub async fn add_suppression(
        &self,
        tenant: &TenantId,
        address: &str,
        entry: NewSuppression,
    ) -> Result<SuppressionAdded, StoreError> {
        let mut added = self.add_suppressions(tenant, &[address], &entry).await?;
        added.pop().ok_or_else(|| {
            StoreError::corrupt(
                keys::suppressions(tenant),
                "the add script returned nothing",
            )
        })
    }

    /// Adds every address with the same details, atomically and in one round trip;
    /// one result per address, in order (a repeated address is reported as existing).
    pub async fn add_suppressions(
        &self,
        tenant: &TenantId,
        addresses: &[&str],
        entry: &NewSuppression,
    ) -> Result<Vec<SuppressionAdded>, StoreError> {
        if addresses.is_empty() {
            return Ok(Vec::new());
        }
        let created_at = now_ms().max(0);
        let json = serde_json::to_string(&Stored {
            reason: entry.reason,
            created_at,
            message_id: entry.message_id.clone(),
            event_id: entry.event_id.clone(),
            note: entry.note.clone(),
        })
        .map_err(|e| StoreError::corrupt("suppression", e))?;
        let addresses: Vec<String> = addresses.iter().map(|a| normalize(a)).collect();
        let mut invocation = write_keys(&ADD, tenant);
        for address in &addresses {
            invocation
                .arg(address)
                .arg(&json)
                .arg(order_member(created_at, address))
                .arg(reason_index(entry.reason));
        }
        let replies = invocation.invoke_async(&mut self.conn()).await?;
        let mut replies = Reply::new("suppression_add", replies)?;
        if replies.len() != addresses.len() {
            return Err(replies.error(format!(
                "{} results for {} addresses",
                replies.len(),
                addresses.len()
            )));
        }
        let key = keys::suppressions(tenant);
        addresses
            .into_iter()
            .map(|address| {
                let mut result = replies.array("result")?;
                let added = result.int("added")? == 1;
                let json = result.text("entry")?;
                result.end()?;
                Ok(SuppressionAdded {
                    added,
                    entry: decode(&key, address, &json)?,
                })
            })
            .collect()
    }

    /// Removes `address`; the removed entry, or `None` when it was not on the list.
    pub async fn remove_suppression(
        &self,
        tenant: &TenantId,
        address: &str,
    ) -> Result<Option<Suppression>, StoreError> {
        let address = normalize(address);
        let removed = write_keys(&REMOVE, tenant)
            .arg(&address)
            .invoke_async(&mut self.conn())
            .await?;
        reply::optional_text("suppression_remove", removed)?
            .map(|json| decode(&keys::suppressions(tenant), address, &json))
            .transpose()
    }

    pub async fn get_suppression(
        &self,
        tenant: &TenantId,
        address: &str,
    ) -> Result<Option<Suppression>, StoreError> {
        let address = normalize(address);
        let key = keys::suppressions(tenant);
        let json: Option<String> = redis::cmd("HGET")
            .arg(&key)
            .arg(&address)
            .query_async(&mut self.conn())
            .await?;
        json.map(|json| decode(&key, address, &json)).transpose()
    }

    /// The entries of those `addresses` that are on the list, keyed by lower-cased
    /// address: one HMGET, whatever the number of addresses.
    pub async fn lookup_suppressions(
        &self,
        tenant: &TenantId,
        addresses: &[&str],
    ) -> Result<HashMap<String, Suppression>, StoreError> {
        if addresses.is_empty() {
            return Ok(HashMap::new());
        }
        let addresses: Vec<String> = addresses.iter().map(|a| normalize(a)).collect();
        let key = keys::suppressions(tenant);
        let found: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(&key)
            .arg(&addresses)
            .query_async(&mut self.conn())
            .await?;
        let mut entries = HashMap::new();
        for (address, json) in addresses.into_iter().zip(found) {
            if let Some(json) = json {
                let entry = decode(&key, address.clone(), &json)?;
                entries.insert(address, entry);
            }
        }
        Ok(entries)
    }

    /// What a delivery attempt checks first, in one round trip: which of `addresses`
    /// are on the tenant's suppression list (as [`lookup_suppressions`]
    /// (Self::lookup_suppressions)), the version of the sending `domain` (`None`:
    /// the tenant has no such domain), which tells the worker's cache of DKIM keys
    /// whether it is stale, and — for bulk mail — whether the tenant's bulk stream is
    /// paused by the reputation guard. Every key lives in the tenant's hash slot.
    pub async fn attempt_checks(
        &self,
        tenant: &TenantId,
        addresses: &[&str],
        domain: &str,
        stream: MessageStream,
    ) -> Result<AttemptChecks, StoreError> {
        let addresses: Vec<String> = addresses.iter().map(|a| normalize(a)).collect();
        let key = keys::suppressions(tenant);
        let domain_key = keys::domain(tenant, domain);
        let fields = ["name", crate::domains::VERSION_FIELD];
        let mut pipe = redis::pipe();
        pipe.hmget(&domain_key, &fields);
        if addresses.is_empty() {
            // HMGET needs a field: ask for none that can exist.
            pipe.cmd("EXISTS").arg(&key);
        } else {
            pipe.hmget(&key, &addresses);
        }
        let check_pause = stream == MessageStream::Bulk;
        if check_pause {
            pipe.hexists(
                keys::reputation_state(tenant),
                keys::reputation_field::BULK_PAUSED,
            );
        } else {
            pipe.cmd("EXISTS").arg(keys::reputation_state(tenant));
        }
        type DomainFields = (Option<String>, Option<u64>);
        let ((name, version), found, paused): (DomainFields, redis::Value, bool) =
            pipe.query_async(&mut self.conn()).await?;
        let found: Vec<Option<String>> = if addresses.is_empty() {
            Vec::new()
        } else {
            redis::from_redis_value(found).map_err(|e| StoreError::corrupt(&key, e))?
        };
        let mut entries = HashMap::new();
        for (address, json) in addresses.into_iter().zip(found) {
            if let Some(json) = json {
                let entry = decode(&key, address.clone(), &json)?;
                entries.insert(address, entry);
            }
        }
        Ok(AttemptChecks {
            suppressed: entries,
            domain_version: name.map(|_| version.unwrap_or(0)),
            bulk_paused: check_pause && paused,
        })
    }

    /// Which of `addresses` are on the list (lower-cased), in one round trip.
    pub async fn check_suppressions(
        &self,
        tenant: &TenantId,
        addresses: &[&str],
    ) -> Result<HashSet<String>, StoreError> {
        Ok(self
            .lookup_suppressions(tenant, addresses)
            .await?
            .into_keys()
            .collect())
    }

    /// A page of the list, newest first, after `cursor`; only `reason`'s entries
    /// when given. `limit` is clamped to 1..=1000.
    pub async fn list_suppressions(
        &self,
        tenant: &TenantId,
        cursor: Option<&SuppressionCursor>,
        limit: usize,
        reason: Option<SuppressionReason>,
    ) -> Result<SuppressionPage, StoreError> {
        let limit = limit.clamp(1, 1000);
        let key = keys::suppressions(tenant);
        let upper = cursor.map_or_else(|| "+".to_string(), |c| format!("({}", c.0));
        let rows: Vec<(String, String)> = PAGE
            .call()
            .key(&key)
            .key(keys::suppression_order(tenant, reason))
            .arg(upper)
            .arg(limit + 1)
            .invoke_async(&mut self.conn())
            .await?;
        let more = rows.len() > limit;
        let mut entries = Vec::with_capacity(limit);
        let mut last = None;
        for (member, json) in rows.into_iter().take(limit) {
            let address = member
                .get(STAMP_DIGITS + MEMBER_SEPARATOR.len()..)
                .unwrap_or_default()
                .to_string();
            // An order member without its entry is skipped, not fatal: the page is
            // still right about everything it shows.
            if !json.is_empty() {
                entries.push(decode(&key, address, &json)?);
            }
            last = Some(member);
        }
        Ok(SuppressionPage {
            entries,
            next_cursor: last.filter(|_| more).map(SuppressionCursor),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn the_scripts_get_the_layout_rust_writes() {
        assert_eq!(STAMP_DIGITS_TEXT.parse::<usize>().ok(), Some(STAMP_DIGITS));
        let json = serde_json::to_value(Stored {
            reason: SuppressionReason::Manual,
            created_at: 7,
            message_id: None,
            event_id: None,
            note: None,
        })
        .ok();
        assert_eq!(
            json.and_then(|j| j.get(CREATED_AT).cloned()),
            Some(7.into())
        );
        assert_eq!(order_member(7, "a@x.test"), "000000000000007|a@x.test");
    }

    #[test]
    fn cursors_round_trip_and_any_base64url_is_a_position() {
        let cursor = SuppressionCursor(format!("{:015}|a+b@x.test", 1_795_376_091_664_i64));
        let text = cursor.to_string();
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(SuppressionCursor::parse(&text), Some(cursor));
        assert_eq!(SuppressionCursor::parse("not a cursor"), None);
        assert_eq!(SuppressionCursor::parse("abcde"), None);
        assert_eq!(
            SuppressionCursor::parse(&URL_SAFE_NO_PAD.encode("12|a@x.test")),
            Some(SuppressionCursor("12|a@x.test".into()))
        );
    }
}
