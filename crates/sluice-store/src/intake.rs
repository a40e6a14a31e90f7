//! Letting messages in: one Lua call accepts a whole chunk of a tenant's messages,
//! checking each against the tenant's quotas in the same atomic step (see
//! `scripts::intake` for the quota and fair-queue arithmetic).

use std::time::Duration;

use redis::aio::ConnectionManager;

use sluice_model::{
    EventType, MessageEvent, MessageId, MessageStatus, MessageStream, OutboundMessage, StreamQuota,
    TenantId, TenantQuotas,
};
use time::OffsetDateTime;

use crate::keys::{self, msg, quota_field};
use crate::messages::{initial_recipients, json, parse_status};
use crate::reply::Reply;
use crate::tenants::hash_secret;
use crate::{Store, StoreError, scripts, to_ms};

/// Messages per script call: big enough that a 500-message batch is a handful of
/// round trips, small enough that no single call holds Redis for long.
const CHUNK: usize = 100;

/// Below this many unread bulk entries, new bulk mail goes straight to the stream;
/// above it, through the fair queue. Roughly what the workers read in a second or
/// two, so a newcomer waits at most that long behind someone else's campaign.
pub const FAIR_BACKLOG: u32 = 256;

/// The tenant's override fields of each stream, in the order the accept script takes them.
const QUOTA_FIELDS: [&str; 3] = [
    quota_field::PER_SECOND,
    quota_field::BURST,
    quota_field::PER_DAY,
];

pub struct NewMessage<'a> {
    pub tenant: &'a TenantId,
    pub id: &'a MessageId,
    pub message: &'a OutboundMessage,
    /// The `Message-ID` header value, angle brackets included.
    pub message_id_header: &'a str,
    /// `(Idempotency-Key, fingerprint of the request body)`.
    pub idempotency: Option<(&'a str, &'a str)>,
    pub now: OffsetDateTime,
}

/// Which quota refused a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuotaLimit {
    /// Messages per second (with burst).
    Rate,
    /// Messages per rolling 24 hours.
    Daily,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AcceptOutcome {
    Created {
        id: MessageId,
        status: MessageStatus,
    },
    /// Same Idempotency-Key and same body: the first response, again.
    Replayed {
        id: MessageId,
        status: MessageStatus,
    },
    /// Same Idempotency-Key, different body.
    Conflict { id: MessageId },
    /// Over the tenant's quota for the message's stream; nothing was stored.
    OverQuota {
        stream: MessageStream,
        limit: QuotaLimit,
        retry_after: Duration,
    },
}

/// Where a tenant stands against one stream's quota after a send (what the
/// `RateLimit` response headers report).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuotaState {
    pub stream: MessageStream,
    pub limits: StreamQuota,
    /// Messages that could be accepted right now.
    pub rate_remaining: u32,
    /// Until the burst is whole again.
    pub rate_reset: Duration,
    pub day_remaining: u64,
    /// Until the oldest message counted in the rolling day leaves it.
    pub day_reset: Duration,
}

/// The outcome of each message, in order, and the quota state of each stream used.
#[derive(Debug)]
pub struct Accepted {
    pub outcomes: Vec<AcceptOutcome>,
    pub quotas: Vec<QuotaState>,
    /// Why the messages after `outcomes` were not stored: a later chunk's call failed
    /// (Redis went away mid-batch). Those before it are stored and will be sent.
    pub interrupted: Option<StoreError>,
}

impl Store {
    /// Accepts one message (see [`accept_messages`](Self::accept_messages)).
    pub async fn accept_message(
        &self,
        new: NewMessage<'_>,
        quotas: &TenantQuotas,
    ) -> Result<(AcceptOutcome, Vec<QuotaState>), StoreError> {
        let mut accepted = self
            .accept_messages(std::slice::from_ref(&new), quotas)
            .await?;
        let outcome = accepted
            .outcomes
            .pop()
            .ok_or_else(|| StoreError::corrupt("accept reply", "no outcome"))?;
        Ok((outcome, accepted.quotas))
    }

    /// Accepts messages of one tenant, each all or nothing and in order: a message
    /// over quota, or a replayed or conflicting Idempotency-Key, leaves the others
    /// unaffected. `quotas` are the configured defaults; the tenant's own overrides
    /// (read inside the script) take precedence.
    pub async fn accept_messages(
        &self,
        messages: &[NewMessage<'_>],
        quotas: &TenantQuotas,
    ) -> Result<Accepted, StoreError> {
        // In `durability.mode = replicas`, every chunk goes over one leased connection
        // and one WAIT at the end covers them all (WAIT counts that connection's writes).
        let waiter = self.replica_waiter.clone();
        let mut leased = match &waiter {
            Some(waiter) => Some(waiter.lease().await),
            None => None,
        };
        let mut shared = self.conn();
        let conn = match leased.as_deref_mut() {
            Some(conn) => conn,
            None => &mut shared,
        };
        let mut outcomes = Vec::with_capacity(messages.len());
        let mut latest: Vec<QuotaState> = Vec::new();
        let mut interrupted = None;
        for chunk in messages.chunks(CHUNK) {
            let (chunk_outcomes, states) = match self.accept_chunk(conn, chunk, quotas).await {
                Ok(accepted) => accepted,
                // Nothing stored yet: the whole call failed.
                Err(e) if outcomes.is_empty() => return Err(e),
                // Earlier chunks are stored: report them, and which ones were not.
                Err(e) => {
                    interrupted = Some(e);
                    break;
                }
            };
            outcomes.extend(chunk_outcomes);
            for state in states {
                latest.retain(|s| s.stream != state.stream);
                latest.push(state);
            }
        }
        latest.sort_by_key(|s| s.stream != MessageStream::Transactional);
        // A replay waits too: its first attempt may have been answered 503
        // not-replicated, and the client is retrying to learn whether it is safe now.
        let stored = outcomes.iter().any(|o| {
            matches!(
                o,
                AcceptOutcome::Created { .. } | AcceptOutcome::Replayed { .. }
            )
        });
        if let (Some(waiter), true) = (&waiter, stored) {
            waiter.confirm(conn).await?;
        }
        Ok(Accepted {
            outcomes,
            quotas: latest,
            interrupted,
        })
    }

    async fn accept_chunk(
        &self,
        conn: &mut ConnectionManager,
        chunk: &[NewMessage<'_>],
        quotas: &TenantQuotas,
    ) -> Result<(Vec<AcceptOutcome>, Vec<QuotaState>), StoreError> {
        let Some(first) = chunk.first() else {
            return Ok((Vec::new(), Vec::new()));
        };
        let tenant = first.tenant;
        if chunk.iter().any(|m| m.tenant != tenant) {
            return Err(StoreError::corrupt("accept", "one tenant per call"));
        }
        let mut invocation = scripts::ACCEPT.call();
        invocation
            .key(keys::event_stream())
            .key(keys::stream(MessageStream::Transactional))
            .key(keys::stream(MessageStream::Bulk))
            .key(keys::delayed())
            .key(keys::quota_overrides(tenant));
        for stream in MessageStream::ALL {
            invocation
                .key(keys::quota_rate(tenant, stream))
                .key(keys::quota_day(tenant, stream));
        }
        invocation
            .key(keys::fair_bulk())
            .key(keys::fair_bulk_times())
            .key(keys::scheduled_bulk_owners());
        invocation.arg(tenant.as_str());
        for stream in MessageStream::ALL {
            let quota = quotas.get(stream);
            invocation
                .arg(stream.as_str())
                .arg(quota.per_second.max(1))
                .arg(quota.burst.max(1))
                .arg(quota.per_day.max(1));
            for name in QUOTA_FIELDS {
                invocation.arg(keys::quota_override_field(stream, name));
            }
        }
        invocation.arg(FAIR_BACKLOG).arg(chunk.len());
        for new in chunk {
            add_message(&mut invocation, new, self.retention);
        }
        let reply: redis::Value = invocation.invoke_async(conn).await?;
        let streams: Vec<MessageStream> = chunk.iter().map(|m| m.message.stream).collect();
        parse_reply(reply, &streams)
    }
}

/// The keys and arguments of one message (see `scripts::ACCEPT`).
fn add_message(
    invocation: &mut redis::ScriptInvocation<'_>,
    new: &NewMessage<'_>,
    retention: Duration,
) {
    let message = new.message;
    let status = if message.send_at.is_some() {
        MessageStatus::Scheduled
    } else {
        MessageStatus::Queued
    };
    let now_ms = to_ms(new.now);
    let due = message
        .send_at
        .map(|at| to_ms(at).to_string())
        .unwrap_or_default();
    let (idem_key, fingerprint) = match new.idempotency {
        Some((key, fingerprint)) => (
            keys::idempotency(new.tenant, &hash_secret(key)),
            fingerprint,
        ),
        None => (keys::idempotency(new.tenant, "-"), ""),
    };
    let event = if message.send_at.is_some() {
        MessageEvent::new(EventType::Scheduled, new.now).detail(format!("send at {due} (unix ms)"))
    } else {
        MessageEvent::new(EventType::Accepted, new.now)
    };
    let recipients = initial_recipients(message, new.now);
    // Retention counts from the last change; until then, keep the record long
    // enough to outlive the retry horizon of any schedule.
    let ttl_ms = retention.as_millis() as i64 + message.send_at.map_or(0, |at| to_ms(at) - now_ms);
    let fields: [(&str, String); 14] = [
        (msg::TENANT, new.tenant.to_string()),
        (msg::STREAM, message.stream.as_str().to_string()),
        (msg::STATUS, status.as_str().to_string()),
        (msg::BODY, json(message)),
        (msg::FROM, message.from.to_string()),
        (msg::SUBJECT, message.subject.clone()),
        (msg::RECIPIENTS, json(&recipients)),
        (msg::ATTEMPTS, "0".into()),
        (msg::CREATED_AT, now_ms.to_string()),
        (msg::UPDATED_AT, now_ms.to_string()),
        (msg::NEXT_ATTEMPT_AT, due.clone()),
        (msg::MESSAGE_ID_HEADER, new.message_id_header.to_string()),
        (msg::TAGS, json(&message.tags)),
        (msg::METADATA, json(&message.metadata)),
    ];
    invocation
        .key(idem_key)
        .key(keys::message(new.id))
        .key(keys::message_events(new.id))
        .arg(if new.idempotency.is_some() { "1" } else { "0" })
        .arg(fingerprint)
        .arg(new.id.as_str())
        .arg(status.as_str())
        .arg(&due)
        .arg(keys::delayed_member(message.stream, new.id))
        .arg(ttl_ms)
        .arg(json(&event))
        .arg(message.stream.as_str())
        .arg(fields.len() * 2)
        .arg(&fields[..]);
}

/// The accept script's reply (see `scripts/accept.lua`): one outcome per message,
/// in order (`streams`: each message's stream), then the quota state of each stream
/// used.
fn parse_reply(
    reply: redis::Value,
    streams: &[MessageStream],
) -> Result<(Vec<AcceptOutcome>, Vec<QuotaState>), StoreError> {
    let unexpected = |reason: String| StoreError::UnexpectedReply {
        script: "accept",
        reason,
    };
    let mut reply = Reply::new("accept", reply)?;
    let mut outcomes = Vec::with_capacity(streams.len());
    for stream in streams {
        let outcome = reply.text("outcome")?;
        let id = reply.text("message id")?;
        // The status, or for a message over quota the milliseconds to wait.
        let third = reply.text("status")?;
        let bad = |what: &str, value: &str| unexpected(format!("{what} {value}"));
        let id = || MessageId::parse(&id).map_err(|_| bad("id", &id));
        let status = || parse_status(&third).ok_or_else(|| bad("status", &third));
        outcomes.push(match outcome.as_str() {
            "created" => AcceptOutcome::Created {
                id: id()?,
                status: status()?,
            },
            "replayed" => AcceptOutcome::Replayed {
                id: id()?,
                status: status()?,
            },
            "conflict" => AcceptOutcome::Conflict { id: id()? },
            "rate" | "daily" => AcceptOutcome::OverQuota {
                stream: *stream,
                limit: if outcome == "rate" {
                    QuotaLimit::Rate
                } else {
                    QuotaLimit::Daily
                },
                retry_after: millis(third.parse().map_err(|_| bad("retry after", &third))?),
            },
            other => return Err(bad("outcome", other)),
        });
    }
    let mut states = Vec::new();
    while !reply.is_empty() {
        let name = reply.text("quota stream")?;
        let stream =
            MessageStream::parse(&name).ok_or_else(|| unexpected(format!("stream {name}")))?;
        let mut number = |what: &str| reply.number(what).map(|n| n.max(0.0));
        states.push(QuotaState {
            stream,
            limits: StreamQuota {
                per_second: number("per_second")? as u32,
                burst: number("burst")? as u32,
                per_day: number("per_day")? as u64,
            },
            rate_remaining: number("rate remaining")? as u32,
            rate_reset: millis(number("rate reset")?),
            day_remaining: number("day remaining")? as u64,
            day_reset: millis(number("day reset")?),
        });
    }
    Ok((outcomes, states))
}

/// Milliseconds as Lua computed them (never negative once here).
fn millis(ms: f64) -> Duration {
    Duration::from_millis(ms.max(0.0) as u64)
}
