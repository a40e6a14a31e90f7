//! Webhook endpoints and their attempt logs (tenant scope), plus the delivery
//! schedule shared by every sender process ([`schedule`]).
//!
//! Signing secrets are stored as they are shown to the tenant (`whsec_…`): the sender
//! needs the key itself to compute HMACs, so unlike API keys they cannot be hashed.

mod schedule;

use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};
use sluice_model::{EventType, TenantId, WebhookAttempt, WebhookId};
use time::OffsetDateTime;

pub use schedule::{ClaimedDelivery, Claims, NewDelivery, Settled, WebhookQueue};

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
        let id = text("id")
            .and_then(|id| WebhookId::parse(id).ok())
            .ok_or_else(|| StoreError::corrupt(key, "no id"))?;
        let secret = text("secret")
            .cloned()
            .ok_or_else(|| StoreError::corrupt(key, "no secret"))?;
        Ok(Self {
            id,
            tenant: tenant.clone(),
            url: text("url").cloned().unwrap_or_default(),
            events: parse_events(text("events").map_or("", String::as_str)),
            secret,
            previous_secret: text("previous_secret")
                .cloned()
                .zip(time("previous_secret_expires_at")),
            created_at: time("created_at").unwrap_or(OffsetDateTime::UNIX_EPOCH),
            enabled: text("status").map(String::as_str) == Some("enabled"),
            disabled_reason: text("disabled_reason").cloned(),
            disabled_at: time("disabled_at"),
            failing_since: time("failing_since"),
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

/// Endpoints and attempt logs.
#[derive(Clone)]
pub struct Webhooks {
    conn: ConnectionManager,
    retention: Duration,
}

impl Store {
    pub fn webhooks(&self) -> Webhooks {
        Webhooks {
            conn: self.conn(),
            retention: self.retention,
        }
    }

    /// The delivery schedule (see [`WebhookQueue`]).
    pub fn webhook_queue(&self) -> WebhookQueue {
        WebhookQueue::new(self.conn())
    }
}

/// KEYS: the tenant's endpoint set. ARGV: the endpoint hash prefix.
/// Returns `id, events` pairs of the enabled endpoints.
static ENABLED: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local f = redis.call('HMGET', ARGV[1] .. id, 'status', 'events')
  if f[1] == 'enabled' then
    out[#out + 1] = id
    out[#out + 1] = f[2] or ''
  end
end
return out
"#,
    )
});

/// KEYS: endpoint hash, attempt log. ARGV: attempt JSON, success ('1'/'0'), now ms,
/// disable_after ms, log length, log ttl ms, disabled reason.
/// Returns '0' (endpoint gone), '1' (recorded) or '2' (recorded, and the endpoint
/// disabled now), then the endpoint's fields as they are now (for the next attempt).
static RECORD_ATTEMPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
if redis.call('EXISTS', KEYS[1]) == 0 then return {'0'} end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', 'a', ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
local result = '1'
if ARGV[2] == '1' then
  redis.call('HDEL', KEYS[1], 'failing_since')
else
  redis.call('HSETNX', KEYS[1], 'failing_since', ARGV[3])
  local since = tonumber(redis.call('HGET', KEYS[1], 'failing_since'))
  if redis.call('HGET', KEYS[1], 'status') == 'enabled'
      and tonumber(ARGV[3]) - since >= tonumber(ARGV[4]) then
    redis.call('HSET', KEYS[1], 'status', 'disabled', 'disabled_reason', ARGV[7], 'disabled_at', ARGV[3])
    result = '2'
  end
end
local out = {result}
for _, v in ipairs(redis.call('HGETALL', KEYS[1])) do out[#out + 1] = v end
return out
"#,
    )
});

/// KEYS: endpoint hash. ARGV: new secret, previous secret's expiry (ms).
static ROTATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local current = redis.call('HGET', KEYS[1], 'secret')
if not current then return 0 end
redis.call('HSET', KEYS[1], 'secret', ARGV[1], 'previous_secret', current,
  'previous_secret_expires_at', ARGV[2])
return 1
"#,
    )
});

/// KEYS: endpoint hash. Re-enables it and forgets its failures.
static ENABLE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'status', 'enabled')
redis.call('HDEL', KEYS[1], 'disabled_reason', 'disabled_at', 'failing_since')
return 1
"#,
    )
});

impl Webhooks {
    fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    pub async fn create(
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
                    ("id", id.as_str()),
                    ("url", url),
                    ("events", &join_events(events)),
                    ("secret", secret),
                    ("created_at", &created_at.to_string()),
                    ("status", "enabled"),
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

    pub async fn get(
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
    pub async fn get_many(
        &self,
        wanted: &[(TenantId, WebhookId)],
    ) -> Result<HashMap<(TenantId, WebhookId), WebhookEndpoint>, StoreError> {
        if wanted.is_empty() {
            return Ok(HashMap::new());
        }
        let mut pipe = redis::pipe();
        for (tenant, id) in wanted {
            pipe.hgetall(keys::webhook(tenant, id));
        }
        let replies: Vec<HashMap<String, String>> = pipe.query_async(&mut self.conn()).await?;
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
    pub async fn list(&self, tenant: &TenantId) -> Result<Vec<WebhookEndpoint>, StoreError> {
        let ids: Vec<String> = self.conn().smembers(keys::webhooks(tenant)).await?;
        let mut ids: Vec<WebhookId> = ids
            .iter()
            .filter_map(|id| WebhookId::parse(id).ok())
            .collect();
        ids.sort();
        let wanted: Vec<(TenantId, WebhookId)> =
            ids.into_iter().map(|id| (tenant.clone(), id)).collect();
        let mut found = self.get_many(&wanted).await?;
        Ok(wanted.iter().filter_map(|key| found.remove(key)).collect())
    }

    /// The enabled endpoints of each tenant as `(id, event filter)`, one round trip
    /// for all of them (the fan-out asks once per batch of events).
    pub async fn enabled_endpoints(
        &self,
        tenants: &[TenantId],
    ) -> Result<HashMap<TenantId, Vec<(WebhookId, Vec<EventType>)>>, StoreError> {
        let calls = tenants.iter().map(|tenant| async move {
            let flat: Vec<String> = ENABLED
                .key(keys::webhooks(tenant))
                .arg(keys::webhook_prefix(tenant))
                .invoke_async(&mut self.conn())
                .await?;
            let endpoints = flat
                .chunks_exact(2)
                .filter_map(|pair| {
                    let id = WebhookId::parse(&pair[0]).ok()?;
                    Some((id, parse_events(&pair[1])))
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
    pub async fn delete(&self, tenant: &TenantId, id: &WebhookId) -> Result<bool, StoreError> {
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
    pub async fn rotate_secret(
        &self,
        tenant: &TenantId,
        id: &WebhookId,
        secret: &str,
        grace_until: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let done: i64 = ROTATE
            .key(keys::webhook(tenant, id))
            .arg(secret)
            .arg(to_ms(grace_until))
            .invoke_async(&mut self.conn())
            .await?;
        Ok(done == 1)
    }

    /// Turns a disabled endpoint back on (new events only; what was given up stays
    /// given up, and can be replayed). `false` when there is no such endpoint.
    pub async fn enable(&self, tenant: &TenantId, id: &WebhookId) -> Result<bool, StoreError> {
        let done: i64 = ENABLE
            .key(keys::webhook(tenant, id))
            .invoke_async(&mut self.conn())
            .await?;
        Ok(done == 1)
    }

    /// Appends an attempt to the endpoint's log and tracks how long it has been
    /// failing: a success clears that, a failure past `disable_after` of continuous
    /// failing disables the endpoint with `reason`. Also returns the endpoint as it
    /// is now (`None` when it is gone), so a sender can go on with it.
    pub async fn record_attempt(
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
        let reply: Vec<String> = RECORD_ATTEMPT
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
        let recorded = match reply.first().map(String::as_str) {
            Some("2") => AttemptRecorded::Disabled,
            Some("1") => AttemptRecorded::Recorded,
            _ => return Ok((AttemptRecorded::EndpointGone, None)),
        };
        let fields: HashMap<String, String> = reply[1..]
            .chunks_exact(2)
            .map(|pair| (pair[0].clone(), pair[1].clone()))
            .collect();
        let endpoint = WebhookEndpoint::from_hash(tenant, &key, &fields).ok();
        Ok((recorded, endpoint))
    }

    /// A page of the endpoint's attempts, newest first, from `cursor` (exclusive;
    /// the `next_cursor` of the previous page).
    pub async fn attempts(
        &self,
        tenant: &TenantId,
        id: &WebhookId,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<AttemptPage, StoreError> {
        let limit = limit.clamp(1, 1000);
        let end = cursor.map_or_else(|| "+".to_string(), |c| format!("({c}"));
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
            let json = entry.get::<String>("a").unwrap_or_default();
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

/// A cursor this store hands out for attempt and event pages: a stream entry id.
pub fn is_stream_cursor(value: &str) -> bool {
    value.split_once('-').is_some_and(|(ms, seq)| {
        !ms.is_empty()
            && !seq.is_empty()
            && ms.len() <= 20
            && seq.len() <= 20
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
