//! Webhook endpoints and their attempt logs (tenant scope), plus the delivery
//! schedule shared by every sender process ([`schedule`]).
//!
//! Signing secrets are stored as they are shown to the tenant (`whsec_…`): the sender
//! needs the key itself to compute HMACs, so unlike API keys they cannot be hashed.

mod schedule;

use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::Duration;

use redis::AsyncCommands;
use sluice_model::{EventType, TenantId, WebhookAttempt, WebhookId};
use time::OffsetDateTime;

pub use schedule::{ClaimedDelivery, Claims, NewDelivery, Settled};

use crate::reply::{self, Reply};
use crate::scripts::{Lua, Names};
use crate::{Store, StoreError, from_ms, keys, now_ms, to_ms};

/// Attempt logs keep about this many entries per endpoint.
const ATTEMPTS_KEPT: usize = 1000;

/// A tenant's webhook endpoint, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookEndpoint {
    pub id: WebhookId,
    pub tenant: TenantId,
    pub url: String,
    /// The event types delivered; empty = every type.
    pub events: Vec<EventType>,
    /// The current signing secret (`whsec_…`).
    pub secret: String,
    /// The secret replaced by the last rotation and when it stops signing.
    pub previous_secret: Option<(String, OffsetDateTime)>,
    pub created_at: OffsetDateTime,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub disabled_at: Option<OffsetDateTime>,
    /// When the current run of failed attempts began; `None` after any success.
    pub failing_since: Option<OffsetDateTime>,
}

impl WebhookEndpoint {
    pub fn wants(&self, kind: EventType) -> bool {
        self.events.is_empty() || self.events.contains(&kind)
    }

    /// The secrets that sign a delivery made at `now`: the current one, and the
    /// previous one while its grace period lasts.
    pub fn signing_secrets(&self, now: OffsetDateTime) -> Vec<&str> {
        let mut secrets = vec![self.secret.as_str()];
        if let Some((previous, until)) = &self.previous_secret
            && *until > now
        {
            secrets.push(previous);
        }
        secrets
    }

    fn from_hash(
        tenant: &TenantId,
        key: &str,
        fields: &HashMap<String, String>,
    ) -> Result<Self, StoreError> {
        let text = |name: &str| fields.get(name).filter(|v| !v.is_empty());
        let time = |name: &str| text(name).and_then(|v| v.parse::<i64>().ok()).map(from_ms);
        let id = text(field::ID)
            .and_then(|id| WebhookId::parse(id).ok())
            .ok_or_else(|| StoreError::corrupt(key, "no id"))?;
        let secret = text(field::SECRET)
            .cloned()
            .ok_or_else(|| StoreError::corrupt(key, "no secret"))?;
        Ok(Self {
            id,
            tenant: tenant.clone(),
            url: text(field::URL).cloned().unwrap_or_default(),
            events: parse_events(text(field::EVENTS).map_or("", String::as_str)),
            secret,
            previous_secret: text(field::PREVIOUS_SECRET)
                .cloned()
                .zip(time(field::PREVIOUS_SECRET_EXPIRES_AT)),
            created_at: time(field::CREATED_AT).unwrap_or(OffsetDateTime::UNIX_EPOCH),
            enabled: text(field::STATUS).map(String::as_str) == Some(field::ENABLED),
            disabled_reason: text(field::DISABLED_REASON).cloned(),
            disabled_at: time(field::DISABLED_AT),
            failing_since: time(field::FAILING_SINCE),
        })
    }
}

fn join_events(events: &[EventType]) -> String {
    events
        .iter()
        .map(|e| e.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn parse_events(text: &str) -> Vec<EventType> {
    text.split(',').filter_map(EventType::parse).collect()
}

/// What recording an attempt did to its endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptRecorded {
    Recorded,
    /// This failure made the endpoint fail for longer than allowed: it is now
    /// disabled (exactly one caller sees this, whatever the number of senders).
    Disabled,
    /// The endpoint was deleted meanwhile; nothing was recorded.
    EndpointGone,
}

/// A page of an endpoint's attempt log, newest first.
#[derive(Clone, Debug)]
pub struct AttemptPage {
    pub attempts: Vec<WebhookAttempt>,
    pub next_cursor: Option<String>,
}

/// Fields of an endpoint hash, its status values and the attempt log's field.
mod field {
    pub const ID: &str = "id";
    pub const URL: &str = "url";
    pub const EVENTS: &str = "events";
    pub const SECRET: &str = "secret";
    pub const PREVIOUS_SECRET: &str = "previous_secret";
    pub const PREVIOUS_SECRET_EXPIRES_AT: &str = "previous_secret_expires_at";
    pub const CREATED_AT: &str = "created_at";
    pub const STATUS: &str = "status";
    pub const DISABLED_REASON: &str = "disabled_reason";
    pub const DISABLED_AT: &str = "disabled_at";
    pub const FAILING_SINCE: &str = "failing_since";
    pub const ENABLED: &str = "enabled";
    pub const DISABLED: &str = "disabled";
    /// The attempt log entry's one field: the attempt JSON.
    pub const ATTEMPT: &str = "a";
}

/// The names the endpoint scripts take first (`scripts/webhook_names.lua`).
fn script_names() -> Vec<&'static str> {
    vec![
        field::STATUS,
        field::EVENTS,
        field::SECRET,
        field::PREVIOUS_SECRET,
        field::PREVIOUS_SECRET_EXPIRES_AT,
        field::DISABLED_REASON,
        field::DISABLED_AT,
        field::FAILING_SINCE,
        field::ENABLED,
        field::DISABLED,
        field::ATTEMPT,
    ]
}

const NAMES: Names = Names::new(include_str!("scripts/webhook_names.lua"), script_names);

/// The tenant's enabled endpoints (see `scripts/webhook_enabled.lua`).
static ENABLED: LazyLock<Lua> =
    LazyLock::new(|| Lua::new(&NAMES, &[], include_str!("scripts/webhook_enabled.lua")));

/// See `scripts/webhook_record_attempt.lua`.
static RECORD_ATTEMPT: LazyLock<Lua> = LazyLock::new(|| {
    Lua::new(
        &NAMES,
        &[],
        include_str!("scripts/webhook_record_attempt.lua"),
    )
});

/// See `scripts/webhook_rotate.lua`.
static ROTATE: LazyLock<Lua> =
    LazyLock::new(|| Lua::new(&NAMES, &[], include_str!("scripts/webhook_rotate.lua")));

/// See `scripts/webhook_enable.lua`.
static ENABLE: LazyLock<Lua> =
    LazyLock::new(|| Lua::new(&NAMES, &[], include_str!("scripts/webhook_enable.lua")));

/// Endpoints and attempt logs.
impl Store {
    pub async fn create_webhook(
        &self,
        tenant: &TenantId,
        url: &str,
        events: &[EventType],
        secret: &str,
    ) -> Result<WebhookEndpoint, StoreError> {
        let id = WebhookId::generate();
        let created_at = now_ms();
        let _: () = redis::pipe()
            .atomic()
            .hset_multiple(
                keys::webhook(tenant, &id),
                &[
                    (field::ID, id.as_str()),
                    (field::URL, url),
                    (field::EVENTS, &join_events(events)),
                    (field::SECRET, secret),
                    (field::CREATED_AT, &created_at.to_string()),
                    (field::STATUS, field::ENABLED),
                ],
            )
            .ignore()
            .sadd(keys::webhooks(tenant), id.as_str())
            .ignore()
            .query_async(&mut self.conn())
            .await?;
        Ok(WebhookEndpoint {
            id,
            tenant: tenant.clone(),
            url: url.to_string(),
            events: events.to_vec(),
            secret: secret.to_string(),
            previous_secret: None,
            created_at: from_ms(created_at),
            enabled: true,
            disabled_reason: None,
            disabled_at: None,
            failing_since: None,
        })
    }

    pub async fn get_webhook(
        &self,
        tenant: &TenantId,
        id: &WebhookId,
    ) -> Result<Option<WebhookEndpoint>, StoreError> {
        let key = keys::webhook(tenant, id);
        let fields: HashMap<String, String> = self.conn().hgetall(&key).await?;
        if fields.is_empty() {
            return Ok(None);
        }
        WebhookEndpoint::from_hash(tenant, &key, &fields).map(Some)
    }

    /// Several endpoints at once (one round trip), e.g. every endpoint of a claimed
    /// batch of deliveries. Missing ones are absent from the map.
    pub async fn get_webhooks(
        &self,
        wanted: &[(TenantId, WebhookId)],
    ) -> Result<HashMap<(TenantId, WebhookId), WebhookEndpoint>, StoreError> {
        if wanted.is_empty() {
            return Ok(HashMap::new());
        }
        // Tenants are in different slots on a cluster: one command each.
        let replies = self
            .conn()
            .hgetall_each(wanted.iter().map(|(tenant, id)| keys::webhook(tenant, id)))
            .await?;
        let mut found = HashMap::new();
        for ((tenant, id), fields) in wanted.iter().zip(replies) {
            if fields.is_empty() {
                continue;
            }
            let key = keys::webhook(tenant, id);
            match WebhookEndpoint::from_hash(tenant, &key, &fields) {
                Ok(endpoint) => {
                    found.insert((tenant.clone(), id.clone()), endpoint);
                }
                Err(e) => tracing::error!(error = %e, "unreadable webhook endpoint"),
            }
        }
        Ok(found)
    }

    /// Every endpoint of the tenant, oldest first.
    pub async fn list_webhooks(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<WebhookEndpoint>, StoreError> {
        let ids: Vec<String> = self.conn().smembers(keys::webhooks(tenant)).await?;
        let mut ids: Vec<WebhookId> = ids
            .iter()
            .filter_map(|id| WebhookId::parse(id).ok())
            .collect();
        ids.sort();
        let wanted: Vec<(TenantId, WebhookId)> =
            ids.into_iter().map(|id| (tenant.clone(), id)).collect();
        let mut found = self.get_webhooks(&wanted).await?;
        Ok(wanted.iter().filter_map(|key| found.remove(key)).collect())
    }

    /// The enabled endpoints of each tenant as `(id, event filter)`, one round trip
    /// for all of them (the fan-out asks once per batch of events).
    pub async fn enabled_webhooks(
        &self,
        tenants: &[TenantId],
    ) -> Result<HashMap<TenantId, Vec<(WebhookId, Vec<EventType>)>>, StoreError> {
        let calls = tenants.iter().map(|tenant| async move {
            let flat = ENABLED
                .call()
                .key(keys::webhooks(tenant))
                .arg(keys::webhook_prefix(tenant))
                .invoke_async(&mut self.conn())
                .await?;
            // `id, events` pairs.
            let endpoints = Reply::new("webhook_enabled", flat)?
                .pairs()?
                .into_iter()
                .filter_map(|(id, events)| {
                    Some((WebhookId::parse(&id).ok()?, parse_events(&events)))
                })
                .collect::<Vec<_>>();
            Ok::<_, StoreError>((tenant.clone(), endpoints))
        });
        futures_util::future::try_join_all(calls)
            .await
            .map(|pairs| pairs.into_iter().collect())
    }

    /// Deletes the endpoint and its attempt log. Deliveries still scheduled for it
    /// are dropped by the sender when it finds the endpoint gone.
    pub async fn delete_webhook(
        &self,
        tenant: &TenantId,
        id: &WebhookId,
    ) -> Result<bool, StoreError> {
        let (_, removed): ((), i64) = redis::pipe()
            .atomic()
            .del(&[
                keys::webhook(tenant, id),
                keys::webhook_attempts(tenant, id),
            ])
            .srem(keys::webhooks(tenant), id.as_str())
            .query_async(&mut self.conn())
            .await?;
        Ok(removed == 1)
    }

    /// Replaces the signing secret; the old one keeps signing until `grace_until`.
    /// `false` when there is no such endpoint.
    pub async fn rotate_webhook_secret(
        &self,
        tenant: &TenantId,
        id: &WebhookId,
        secret: &str,
        grace_until: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let done = ROTATE
            .call()
            .key(keys::webhook(tenant, id))
            .arg(secret)
            .arg(to_ms(grace_until))
            .invoke_async(&mut self.conn())
            .await?;
        Ok(reply::int("webhook_rotate", done)? == 1)
    }

    /// Turns a disabled endpoint back on (new events only; what was given up stays
    /// given up, and can be replayed). `false` when there is no such endpoint.
    pub async fn enable_webhook(
        &self,
        tenant: &TenantId,
        id: &WebhookId,
    ) -> Result<bool, StoreError> {
        let done = ENABLE
            .call()
            .key(keys::webhook(tenant, id))
            .invoke_async(&mut self.conn())
            .await?;
        Ok(reply::int("webhook_enable", done)? == 1)
    }

    /// Appends an attempt to the endpoint's log and tracks how long it has been
    /// failing: a success clears that, a failure past `disable_after` of continuous
    /// failing disables the endpoint with `reason`. Also returns the endpoint as it
    /// is now (`None` when it is gone), so a sender can go on with it.
    pub async fn record_webhook_attempt(
        &self,
        tenant: &TenantId,
        id: &WebhookId,
        attempt: &WebhookAttempt,
        disable_after: Duration,
        reason: &str,
    ) -> Result<(AttemptRecorded, Option<WebhookEndpoint>), StoreError> {
        let success = attempt.outcome == sluice_model::WebhookAttemptOutcome::Delivered;
        let json = serde_json::to_string(attempt).map_err(|e| StoreError::corrupt("attempt", e))?;
        let key = keys::webhook(tenant, id);
        let reply = RECORD_ATTEMPT
            .call()
            .key(&key)
            .key(keys::webhook_attempts(tenant, id))
            .arg(json)
            .arg(if success { "1" } else { "0" })
            .arg(to_ms(attempt.at))
            .arg(disable_after.as_millis() as u64)
            .arg(ATTEMPTS_KEPT)
            .arg(self.retention.as_millis() as u64)
            .arg(reason)
            .invoke_async(&mut self.conn())
            .await?;
        let mut reply = Reply::new("webhook_record_attempt", reply)?;
        let recorded = match reply.text("result")?.as_str() {
            "2" => AttemptRecorded::Disabled,
            "1" => AttemptRecorded::Recorded,
            "0" => return Ok((AttemptRecorded::EndpointGone, None)),
            other => return Err(reply.error(format!("result {other}"))),
        };
        let fields = reply.pairs()?;
        let endpoint = WebhookEndpoint::from_hash(tenant, &key, &fields).ok();
        Ok((recorded, endpoint))
    }

    /// A page of the endpoint's attempts, newest first, from `cursor` (exclusive;
    /// the `next_cursor` of the previous page).
    pub async fn list_webhook_attempts(
        &self,
        tenant: &TenantId,
        id: &WebhookId,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<AttemptPage, StoreError> {
        let limit = limit.clamp(1, 1000);
        let end = match cursor {
            None => "+".to_string(),
            Some(cursor) => match after_cursor(cursor) {
                Some(end) => end,
                None => {
                    return Ok(AttemptPage {
                        attempts: Vec::new(),
                        next_cursor: None,
                    });
                }
            },
        };
        let reply: redis::streams::StreamRangeReply = redis::cmd("XREVRANGE")
            .arg(keys::webhook_attempts(tenant, id))
            .arg(end)
            .arg("-")
            .arg("COUNT")
            .arg(limit + 1)
            .query_async(&mut self.conn())
            .await?;
        let more = reply.ids.len() > limit;
        let mut attempts = Vec::with_capacity(limit);
        let mut last = None;
        for entry in reply.ids.into_iter().take(limit) {
            let json = entry.get::<String>(field::ATTEMPT).unwrap_or_default();
            match serde_json::from_str::<WebhookAttempt>(&json) {
                Ok(attempt) => attempts.push(attempt),
                Err(e) => {
                    tracing::warn!(entry = %entry.id, error = %e, "unreadable attempt record")
                }
            }
            last = Some(entry.id);
        }
        Ok(AttemptPage {
            attempts,
            next_cursor: last.filter(|_| more),
        })
    }
}

/// The `XREVRANGE` end that starts a page after `cursor` (exclusive), or `None` when
/// nothing can come after it (`0-0`, the first id there is: Redis refuses `(0-0`).
pub(crate) fn after_cursor(cursor: &str) -> Option<String> {
    let (ms, seq) = cursor.split_once('-')?;
    let zero = |part: &str| part.bytes().all(|b| b == b'0');
    (!(zero(ms) && zero(seq))).then(|| format!("({cursor}"))
}

/// A cursor this store hands out for attempt and event pages: a stream entry id, each
/// part at most 19 digits (so any such text is an id Redis takes: below 2^64).
pub fn is_stream_cursor(value: &str) -> bool {
    value.split_once('-').is_some_and(|(ms, seq)| {
        !ms.is_empty()
            && !seq.is_empty()
            && ms.len() <= 19
            && seq.len() <= 19
            && ms.bytes().all(|b| b.is_ascii_digit())
            && seq.bytes().all(|b| b.is_ascii_digit())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_filters_round_trip() {
        let events = [EventType::Delivered, EventType::Bounced];
        assert_eq!(parse_events(&join_events(&events)), events);
        assert!(parse_events("").is_empty());
    }

    #[test]
    fn previous_secret_signs_only_during_its_grace() {
        let now = OffsetDateTime::now_utc();
        let mut endpoint = WebhookEndpoint {
            id: WebhookId::generate(),
            tenant: TenantId::generate(),
            url: "https://example.com/hook".into(),
            events: vec![],
            secret: "new".into(),
            previous_secret: Some(("old".into(), now + time::Duration::hours(1))),
            created_at: now,
            enabled: true,
            disabled_reason: None,
            disabled_at: None,
            failing_since: None,
        };
        assert_eq!(endpoint.signing_secrets(now), ["new", "old"]);
        endpoint.previous_secret = Some(("old".into(), now - time::Duration::seconds(1)));
        assert_eq!(endpoint.signing_secrets(now), ["new"]);
        assert!(endpoint.wants(EventType::Failed));
    }

    #[test]
    fn cursors_are_stream_ids() {
        assert!(is_stream_cursor("1795376091664-0"));
        assert!(!is_stream_cursor("1795376091664"));
        assert!(!is_stream_cursor("x-1"));
        assert!(!is_stream_cursor("(1-1"));
    }
}
