//! Letting messages in: one Lua call accepts a whole chunk of a tenant's messages,
//! checking each against the tenant's quotas in the same atomic step (two calls on
//! a Redis Cluster: see [`Store::accept_messages`]; `scripts::intake` has the quota
//! and fair-queue arithmetic).

use std::time::Duration;

use sluice_model::{
    EventType, MessageEvent, MessageId, MessageStatus, MessageStream, OutboundMessage, StreamQuota,
    TenantId, TenantQuotas,
};
use time::OffsetDateTime;

use crate::body::{self, Bodies, ChunkBodies};
use crate::connection::Conn;
use crate::keys::{self, msg, quota_field};
use crate::messages::{initial_recipients, json, parse_status};
use crate::reply::Reply;
use crate::tenants::hash_secret;
use crate::{Partition, Store, StoreError, scripts, to_ms};

mod two_step;

/// Messages per script call: big enough that a 500-message batch is a handful of
/// round trips, small enough that no single call holds Redis for long.
const CHUNK: usize = 100;

/// Below this many unread bulk entries, new bulk mail goes straight to the stream;
/// above it, through the fair queue. Roughly what the workers read in a second or
/// two, so a newcomer waits at most that long behind someone else's campaign. With
/// several partitions it is shared out (see `Partitions::fair_backlog`): a campaign
/// spread over 16 partitions must not put 16 times as much ahead of a newcomer.
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
    /// Sent with a sandbox (test) key: stored and marked so the worker simulates its
    /// delivery; counted against the tenant's sandbox quota buckets, not the live ones.
    pub test: bool,
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
    /// Same Idempotency-Key as a request whose message is still being stored (a
    /// Redis Cluster stores in two steps): retry shortly.
    InProgress { id: MessageId },
    /// Not stored: Redis failed on the way (see [`Accepted::interrupted`]).
    NotStored,
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
#[derive(Debug, Default)]
pub struct Accepted {
    pub outcomes: Vec<AcceptOutcome>,
    pub quotas: Vec<QuotaState>,
    /// Why the messages whose outcome is [`AcceptOutcome::NotStored`] were not stored
    /// (Redis went away mid-batch). The others are stored and will be sent.
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
        if let (AcceptOutcome::NotStored, Some(error)) = (&outcome, accepted.interrupted) {
            return Err(error);
        }
        Ok((outcome, accepted.quotas))
    }

    /// Accepts messages of one tenant, each all or nothing and in order: a message
    /// over quota, or a replayed or conflicting Idempotency-Key, leaves the others
    /// unaffected. `quotas` are the configured defaults; the tenant's own overrides
    /// (read inside the script) take precedence.
    ///
    /// On a single server each chunk is one script call. On a Redis Cluster the
    /// tenant's quota state and the messages' partitions live on different masters:
    /// the quota and Idempotency-Key checks are one call in the tenant's slot
    /// (`admit.lua`), then each partition stores its messages (`enqueue.lua`). A
    /// failure between the two leaves quota spent for messages not stored (they are
    /// reported [`AcceptOutcome::NotStored`] and their Idempotency-Keys released).
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
        let mut written: Vec<String> = Vec::new();
        let bodies = self.encode_bodies(messages).await?;
        for (at, chunk) in messages.chunks(CHUNK).enumerate() {
            let bodies = ChunkBodies {
                bodies: &bodies.bodies[at * CHUNK..],
                contents: &bodies.contents,
            };
            let accepted = if conn.is_cluster() {
                self.accept_chunk_in_two(conn, chunk, &bodies, quotas).await
            } else {
                self.accept_chunk(conn, chunk, &bodies, quotas).await
            };
            let chunk_accepted = match accepted {
                Ok(accepted) => accepted,
                // Nothing stored yet: the whole call failed.
                Err(e) if outcomes.is_empty() => return Err(e),
                // Earlier chunks are stored: report them, and which ones were not.
                Err(e) => {
                    interrupted = Some(e);
                    break;
                }
            };
            for state in chunk_accepted.quotas {
                latest.retain(|s| s.stream != state.stream);
                latest.push(state);
            }
            // The masters a WAIT must hear from (a replay's message included).
            for (new, outcome) in chunk.iter().zip(&chunk_accepted.outcomes) {
                match outcome {
                    AcceptOutcome::Created { .. } => {
                        written.push(keys::message(self.partitions.of(new.id), new.id));
                    }
                    AcceptOutcome::Replayed { id, .. } => {
                        written.push(keys::message(self.partitions.of(id), id));
                    }
                    _ => {}
                }
            }
            outcomes.extend(chunk_accepted.outcomes);
            if let Some(e) = chunk_accepted.interrupted {
                interrupted = Some(e);
                break;
            }
        }
        // Every message after the interruption was not stored.
        if interrupted.is_some() {
            outcomes.resize(messages.len(), AcceptOutcome::NotStored);
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
            if let Some(first) = messages.first() {
                written.push(keys::quota_overrides(first.tenant));
            }
            waiter.confirm(conn, &written).await?;
        }
        Ok(Accepted {
            outcomes,
            quotas: latest,
            interrupted,
        })
    }

    /// The request's message bodies (see `body`), compressed on the blocking pool
    /// when there are many: a 500-message batch is some milliseconds of CPU.
    async fn encode_bodies(&self, messages: &[NewMessage<'_>]) -> Result<Bodies, StoreError> {
        if messages.len() <= ENCODE_INLINE {
            let refs: Vec<(&OutboundMessage, Partition)> = messages
                .iter()
                .map(|n| (n.message, self.partitions.of(n.id)))
                .collect();
            return Ok(body::encode(&refs));
        }
        // The blocking pool needs owned messages: a copy, worth it only for many.
        let owned: Vec<(OutboundMessage, Partition)> = messages
            .iter()
            .map(|n| (n.message.clone(), self.partitions.of(n.id)))
            .collect();
        tokio::task::spawn_blocking(move || {
            let refs: Vec<(&OutboundMessage, Partition)> =
                owned.iter().map(|(m, p)| (m, *p)).collect();
            body::encode(&refs)
        })
        .await
        .map_err(|e| StoreError::corrupt("message bodies", e))
    }

    /// A chunk on a single server: one `accept.lua` call.
    async fn accept_chunk(
        &self,
        conn: &mut Conn,
        chunk: &[NewMessage<'_>],
        bodies: &ChunkBodies<'_>,
        quotas: &TenantQuotas,
    ) -> Result<Accepted, StoreError> {
        let Some((tenant, test)) = one_tenant(chunk)? else {
            return Ok(Accepted::default());
        };
        let prepared: Vec<Prepared> = chunk.iter().map(|n| prepare(n, self.retention)).collect();
        let mut used: Vec<Partition> = Vec::new();
        let groups: Vec<usize> = chunk
            .iter()
            .map(|new| {
                let p = self.partitions.of(new.id);
                match used.iter().position(|u| *u == p) {
                    Some(at) => at + 1,
                    None => {
                        used.push(p);
                        used.len()
                    }
                }
            })
            .collect();
        let mut invocation = scripts::ACCEPT.call();
        add_quota_keys(&mut invocation, tenant, test);
        for p in &used {
            add_queue_keys(&mut invocation, *p);
        }
        let numbers = bodies.add_contents(&mut invocation, 0..chunk.len());
        add_quota_args(&mut invocation, tenant, quotas);
        invocation
            .arg(self.partitions.fair_backlog())
            .arg(chunk.len())
            .arg(used.len());
        bodies.add_content_args(&mut invocation, 0..chunk.len());
        for (index, ((new, prepared), group)) in
            chunk.iter().zip(&prepared).zip(&groups).enumerate()
        {
            let p = self.partitions.of(new.id);
            invocation
                .key(idempotency_key(new))
                .key(keys::message(p, new.id))
                .key(keys::message_events(p, new.id));
            invocation
                .arg(if new.idempotency.is_some() { "1" } else { "0" })
                .arg(new.idempotency.map(|(_, fp)| fp).unwrap_or_default())
                .arg(new.id.as_str())
                .arg(prepared.status.as_str())
                .arg(&prepared.due)
                .arg(keys::delayed_member(new.message.stream, new.id))
                .arg(prepared.ttl_ms)
                .arg(&prepared.event)
                .arg(new.message.stream.as_str())
                .arg(*group)
                .arg(numbers[index]);
            add_fields(&mut invocation, prepared, bodies.body(index));
        }
        let reply: redis::Value = invocation.invoke_async(conn).await?;
        let streams: Vec<MessageStream> = chunk.iter().map(|m| m.message.stream).collect();
        let (outcomes, quotas) = parse_reply(reply, &streams, false)?;
        Ok(Accepted {
            outcomes: outcomes.into_iter().map(|(o, _)| o).collect(),
            quotas,
            interrupted: None,
        })
    }
}

/// The tenant of a chunk, and whether it is sandbox traffic; one tenant and one mode
/// per call (a request is sent with one key).
fn one_tenant<'a>(chunk: &[NewMessage<'a>]) -> Result<Option<(&'a TenantId, bool)>, StoreError> {
    let Some(first) = chunk.first() else {
        return Ok(None);
    };
    if chunk
        .iter()
        .any(|m| m.tenant != first.tenant || m.test != first.test)
    {
        return Err(StoreError::corrupt(
            "accept",
            "one tenant and mode per call",
        ));
    }
    Ok(Some((first.tenant, first.test)))
}

/// The tenant's quota keys (see `quota.lua`): overrides, then each stream's rate and
/// day — the sandbox buckets for test traffic (same limits, separate counts).
fn add_quota_keys(invocation: &mut redis::ScriptInvocation<'_>, tenant: &TenantId, test: bool) {
    invocation.key(keys::quota_overrides(tenant));
    for stream in MessageStream::ALL {
        if test {
            invocation
                .key(keys::sandbox_quota_rate(tenant, stream))
                .key(keys::sandbox_quota_day(tenant, stream));
        } else {
            invocation
                .key(keys::quota_rate(tenant, stream))
                .key(keys::quota_day(tenant, stream));
        }
    }
}

/// The tenant, then each stream's name, default limits and override field names.
fn add_quota_args(
    invocation: &mut redis::ScriptInvocation<'_>,
    tenant: &TenantId,
    quotas: &TenantQuotas,
) {
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
}

/// A partition's queue keys, in the order of `enqueue_message.lua`.
fn add_queue_keys(invocation: &mut redis::ScriptInvocation<'_>, p: Partition) {
    invocation
        .key(keys::event_stream(p))
        .key(keys::stream(p, MessageStream::Transactional))
        .key(keys::stream(p, MessageStream::Bulk))
        .key(keys::delayed(p))
        .key(keys::fair_bulk(p))
        .key(keys::fair_bulk_times(p))
        .key(keys::scheduled_bulk_owners(p));
}

/// Bodies are encoded on the calling task up to this many messages (tens of µs each).
const ENCODE_INLINE: usize = 8;

/// The record's fields (see `enqueue_message.lua`): their count, then each name and value.
fn add_fields(invocation: &mut redis::ScriptInvocation<'_>, prepared: &Prepared, body: &[u8]) {
    invocation
        .arg(prepared.fields.len() * 2 + 2)
        .arg(&prepared.fields[..])
        .arg(msg::BODY)
        .arg(body);
}

/// The Idempotency-Key's record (sandbox sends have their own namespace).
fn idempotency_key(new: &NewMessage<'_>) -> String {
    match new.idempotency {
        Some((key, _)) if new.test => keys::sandbox_idempotency(new.tenant, &hash_secret(key)),
        Some((key, _)) => keys::idempotency(new.tenant, &hash_secret(key)),
        // Never read (use_idempotency is 0), but KEYS must name the tenant's slot.
        None => keys::idempotency(new.tenant, "-"),
    }
}

/// What a message's record holds when it is stored.
struct Prepared {
    status: MessageStatus,
    /// When a scheduled message is due (unix ms), else empty.
    due: String,
    ttl_ms: i64,
    event: String,
    /// All but the body (see [`add_fields`]).
    fields: [(&'static str, String); 14],
}

fn prepare(new: &NewMessage<'_>, retention: Duration) -> Prepared {
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
    let mut event = if message.send_at.is_some() {
        MessageEvent::new(EventType::Scheduled, new.now).detail(format!("send at {due} (unix ms)"))
    } else {
        MessageEvent::new(EventType::Accepted, new.now)
    };
    event.test = new.test;
    let recipients = initial_recipients(message, new.now);
    // Retention counts from the last change; until then, keep the record long
    // enough to outlive the retry horizon of any schedule.
    let ttl_ms = retention.as_millis() as i64 + message.send_at.map_or(0, |at| to_ms(at) - now_ms);
    let fields: [(&str, String); 14] = [
        (msg::TENANT, new.tenant.to_string()),
        (msg::STREAM, message.stream.as_str().to_string()),
        (msg::STATUS, status.as_str().to_string()),
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
        (msg::TEST, if new.test { "1" } else { "0" }.into()),
    ];
    Prepared {
        status,
        due,
        ttl_ms,
        event: json(&event),
        fields,
    }
}

/// An outcome, and for `admit.lua` the age of a replayed key's first answer.
type Outcomes = Vec<(AcceptOutcome, Option<Duration>)>;

/// The accept (or admit) script's reply (see `scripts/accept.lua`): one outcome per
/// message, in order (`streams`: each message's stream), then the quota state of each
/// stream used. `with_age`: each outcome has a fourth value, a replay's age in ms.
fn parse_reply(
    reply: redis::Value,
    streams: &[MessageStream],
    with_age: bool,
) -> Result<(Outcomes, Vec<QuotaState>), StoreError> {
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
        let age = if with_age {
            reply
                .text("age")?
                .parse::<u64>()
                .ok()
                .map(Duration::from_millis)
        } else {
            None
        };
        let bad = |what: &str, value: &str| unexpected(format!("{what} {value}"));
        let id = || MessageId::parse(&id).map_err(|_| bad("id", &id));
        let status = || parse_status(&third).ok_or_else(|| bad("status", &third));
        let outcome = match outcome.as_str() {
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
        };
        outcomes.push((outcome, age));
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
