//! The worker side of the queues: priority reads, reclaiming a crashed worker's
//! entries, settling attempts, and moving due retries back into their stream.

use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::streams::{StreamReadOptions, StreamReadReply};
use sluice_model::{
    MessageEvent, MessageId, MessageStatus, MessageStream, OutboundMessage, RecipientState,
    TenantId,
};
use time::OffsetDateTime;

use crate::keys::{self, msg};
use crate::messages::parse_status;
use crate::reply::{self, Reply};
use crate::{StoreError, from_ms, now_ms, scripts, to_ms};

/// The longest a blocking read waits; the reader's connection allows this plus a margin.
pub const MAX_BLOCK: Duration = Duration::from_secs(5);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueEntry {
    pub stream: MessageStream,
    /// The Redis stream entry id (what XACK needs).
    pub entry_id: String,
    pub message_id: MessageId,
}

/// Everything a worker needs to attempt a delivery.
#[derive(Clone, Debug)]
pub struct DeliveryJob {
    pub entry: QueueEntry,
    pub tenant: TenantId,
    pub status: MessageStatus,
    pub message: OutboundMessage,
    pub message_id_header: String,
    pub recipients: Vec<RecipientState>,
    pub attempts: u32,
    pub created_at: OffsetDateTime,
}

/// What [`Queue::load`] found behind an entry.
#[derive(Clone, Debug)]
pub enum Loaded {
    /// A message waiting for delivery, now claimed by the caller.
    Job(Box<DeliveryJob>),
    /// Nothing left to do: final, cancelled, or already delivered by an earlier
    /// attempt whose acknowledgement was lost (a reclaimed or retried entry).
    Finished,
    /// No record at all: the message cannot be sent (see [`Queue::dead_letter`]).
    Missing,
}

impl Loaded {
    /// The job, when there is one to attempt.
    pub fn into_job(self) -> Option<DeliveryJob> {
        match self {
            Loaded::Job(job) => Some(*job),
            Loaded::Finished | Loaded::Missing => None,
        }
    }
}

impl DeliveryJob {
    /// When the message fell due: its `send_at` when it was scheduled, else its
    /// acceptance. The maximum queue age and the `Date:` header count from here, so a
    /// message scheduled days ahead gets the same retry window as one sent now and
    /// does not look days old to its reader.
    pub fn due_at(&self) -> OffsetDateTime {
        self.message
            .send_at
            .map_or(self.created_at, |at| at.max(self.created_at))
    }
}

/// The outcome of one attempt, written atomically with the acknowledgement.
#[derive(Clone, Debug)]
pub struct Settlement {
    pub status: MessageStatus,
    pub recipients: Vec<RecipientState>,
    pub attempts: u32,
    pub events: Vec<MessageEvent>,
    /// When to try the unfinished recipients again; `None` once every one is final.
    pub retry_at: Option<OffsetDateTime>,
    /// Wait lists of busy destinations this message is parked behind (only with a
    /// `retry_at`): a freed connection releases it early.
    pub waitlists: Vec<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueDepth {
    pub transactional: u64,
    /// Unread bulk entries, including those waiting their fair turn.
    pub bulk: u64,
    /// Scheduled sends and deferred retries waiting for their time.
    pub delayed: u64,
    /// Entries read by a worker and not yet settled.
    pub in_flight: u64,
}

#[derive(Clone)]
pub struct Queue {
    pub(crate) conn: ConnectionManager,
    reader: ConnectionManager,
    retention: Duration,
}

impl Queue {
    pub(crate) async fn new(
        client: redis::Client,
        conn: ConnectionManager,
        retention: Duration,
    ) -> Result<Self, StoreError> {
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(5)))
            .set_response_timeout(Some(MAX_BLOCK + Duration::from_secs(10)));
        let reader = ConnectionManager::new_with_config(client, config).await?;
        let queue = Self {
            conn,
            reader,
            retention,
        };
        queue.ensure_groups().await?;
        Ok(queue)
    }

    /// Creates the streams and the consumer group if missing. The group starts at id 0
    /// so messages accepted before any worker ever ran are still delivered.
    pub async fn ensure_groups(&self) -> Result<(), StoreError> {
        for stream in MessageStream::ALL {
            let created: Result<(), redis::RedisError> = redis::cmd("XGROUP")
                .arg("CREATE")
                .arg(keys::stream(stream))
                .arg(keys::GROUP)
                .arg("0")
                .arg("MKSTREAM")
                .query_async(&mut self.conn.clone())
                .await;
            match created {
                Err(e) if e.code() != Some("BUSYGROUP") => return Err(e.into()),
                _ => {}
            }
        }
        Ok(())
    }

    /// Up to `count` new entries: transactional first, bulk only when no transactional
    /// entry waits (topped up from the fair queue first); blocks up to `block` when
    /// both are empty.
    pub async fn next_batch(
        &self,
        consumer: &str,
        count: usize,
        block: Duration,
    ) -> Result<Vec<QueueEntry>, StoreError> {
        for stream in MessageStream::ALL {
            if stream == MessageStream::Bulk {
                self.feed_bulk(count).await?;
            }
            let entries = self.read(consumer, count, &[stream], None).await?;
            if !entries.is_empty() {
                return Ok(entries);
            }
        }
        if block.is_zero() {
            return Ok(Vec::new());
        }
        let mut entries = self
            .read(
                consumer,
                count,
                &MessageStream::ALL,
                Some(block.min(MAX_BLOCK)),
            )
            .await?;
        entries.sort_by_key(|e| e.stream != MessageStream::Transactional);
        Ok(entries)
    }

    /// Moves bulk mail from the fair queue into the bulk stream, tenants interleaved,
    /// keeping the stream's unread part short so a newcomer never waits long.
    async fn feed_bulk(&self, count: usize) -> Result<u64, StoreError> {
        let moved = scripts::FEED_BULK
            .call()
            .key(keys::fair_bulk())
            .key(keys::fair_bulk_times())
            .key(keys::stream(MessageStream::Bulk))
            .arg(crate::FAIR_BACKLOG)
            .arg(count.max(1))
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(reply::int("feed_bulk", moved)?.max(0) as u64)
    }

    async fn read(
        &self,
        consumer: &str,
        count: usize,
        streams: &[MessageStream],
        block: Option<Duration>,
    ) -> Result<Vec<QueueEntry>, StoreError> {
        let mut options = StreamReadOptions::default()
            .group(keys::GROUP, consumer)
            .count(count);
        if let Some(block) = block {
            options = options.block(block.as_millis() as usize);
        }
        let stream_keys: Vec<String> = streams.iter().map(|s| keys::stream(*s)).collect();
        let ids = vec![">"; streams.len()];
        let reply: Option<StreamReadReply> = redis::cmd("XREADGROUP")
            .arg(&options)
            .arg("STREAMS")
            .arg(&stream_keys)
            .arg(&ids)
            .query_async(&mut self.reader.clone())
            .await?;
        let mut entries = Vec::new();
        for key in reply.map(|r| r.keys).unwrap_or_default() {
            let Some(stream) = streams
                .iter()
                .copied()
                .find(|s| keys::stream(*s) == key.key)
            else {
                continue;
            };
            entries.extend(
                key.ids
                    .into_iter()
                    .filter_map(|entry| to_entry(stream, entry)),
            );
        }
        Ok(entries)
    }

    /// Loads and claims the job behind an entry. The claim, taken atomically with the
    /// read, makes a cancellation wait for this attempt to settle (409) instead of
    /// racing it; [`Queue::settle`] and [`Queue::discard`] release it.
    pub async fn load(&self, entry: &QueueEntry) -> Result<Loaded, StoreError> {
        let key = keys::message(&entry.message_id);
        let fields = scripts::CLAIM
            .call()
            .key(&key)
            .arg(keys::claim_field(&entry.entry_id))
            .arg(now_ms())
            .invoke_async(&mut self.conn.clone())
            .await?;
        let fields = Reply::new("claim", fields)?.pairs()?;
        if fields.is_empty() {
            return Ok(Loaded::Missing);
        }
        let status = match fields.get(msg::STATUS).and_then(|s| parse_status(s)) {
            Some(status) if !status.is_final() => status,
            _ => return Ok(Loaded::Finished),
        };
        let Some(body) = fields.get(msg::BODY) else {
            return Ok(Loaded::Finished);
        };
        let corrupt = |reason: String| StoreError::corrupt(&key, reason);
        let text = |name: &str| fields.get(name).map(String::as_str).unwrap_or_default();
        Ok(Loaded::Job(Box::new(DeliveryJob {
            entry: entry.clone(),
            tenant: TenantId::parse(text(msg::TENANT)).map_err(|e| corrupt(e.to_string()))?,
            status,
            message: serde_json::from_str(body).map_err(|e| corrupt(e.to_string()))?,
            message_id_header: text(msg::MESSAGE_ID_HEADER).to_string(),
            recipients: serde_json::from_str(text(msg::RECIPIENTS))
                .map_err(|e| corrupt(e.to_string()))?,
            attempts: text(msg::ATTEMPTS).parse().unwrap_or_default(),
            created_at: from_ms(text(msg::CREATED_AT).parse().unwrap_or_default()),
        })))
    }

    /// Acknowledges an entry whose message record is gone (expired or deleted by
    /// hand: with `noeviction` nothing else removes one), keeping a trace of it in
    /// the lost-entries stream for the operator. Nothing can be sent: the record
    /// held the message.
    pub async fn dead_letter(&self, entry: &QueueEntry, reason: &str) -> Result<(), StoreError> {
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("XADD")
            .arg(keys::lost_entries())
            .arg("MAXLEN")
            .arg("~")
            .arg(10_000)
            .arg("*")
            .arg("m")
            .arg(entry.message_id.to_string())
            .arg("stream")
            .arg(entry.stream.as_str())
            .arg("entry")
            .arg(&entry.entry_id)
            .arg("reason")
            .arg(reason)
            .ignore();
        let _: () = acknowledge(&mut pipe, entry)
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    pub async fn settle(
        &self,
        entry: &QueueEntry,
        settlement: &Settlement,
    ) -> Result<(), StoreError> {
        let final_ = settlement.retry_at.is_none();
        let mut invocation = scripts::SETTLE.call();
        invocation
            .key(keys::message(&entry.message_id))
            .key(keys::message_events(&entry.message_id))
            .key(keys::stream(entry.stream))
            .key(keys::delayed())
            .key(keys::event_stream());
        if settlement.retry_at.is_some() {
            for name in &settlement.waitlists {
                invocation.key(keys::waitlist(name));
            }
        }
        invocation
            .arg(&entry.entry_id)
            .arg(keys::claim_field(&entry.entry_id))
            .arg(entry.message_id.as_str())
            .arg(settlement.status.as_str())
            .arg(
                serde_json::to_string(&settlement.recipients)
                    .map_err(|e| StoreError::corrupt("recipients", e))?,
            )
            .arg(now_ms())
            .arg(settlement.attempts)
            .arg(
                settlement
                    .retry_at
                    .map(|at| to_ms(at).to_string())
                    .unwrap_or_default(),
            )
            .arg(keys::delayed_member(entry.stream, &entry.message_id))
            .arg(self.retention.as_millis() as u64)
            .arg(if final_ { "1" } else { "0" });
        for event in &settlement.events {
            invocation
                .arg(serde_json::to_string(event).map_err(|e| StoreError::corrupt("event", e))?);
        }
        let settled = invocation.invoke_async(&mut self.conn.clone()).await?;
        reply::int("settle", settled)?;
        Ok(())
    }

    /// Moves up to `count` messages waiting behind the busy destination `name` to
    /// their streams. Returns how many moved and how many entries are still listed
    /// (some may be stale: already moved by their fallback time).
    pub async fn release_waiting(&self, name: &str, count: u32) -> Result<(u64, u64), StoreError> {
        let reply = scripts::RELEASE_WAITING
            .call()
            .key(keys::waitlist(name))
            .key(keys::delayed())
            .key(keys::stream(MessageStream::Transactional))
            .key(keys::stream(MessageStream::Bulk))
            .arg(count)
            .arg(count.saturating_mul(4).max(16))
            .invoke_async(&mut self.conn.clone())
            .await?;
        let mut reply = Reply::new("release_waiting", reply)?;
        let released = reply.int("released")?.max(0) as u64;
        let waiting = reply.int("waiting")?.max(0) as u64;
        reply.end()?;
        Ok((released, waiting))
    }

    /// Acknowledges an entry with nothing left to do (its record is final, cancelled,
    /// gone or unreadable), releasing any claim its load took.
    pub async fn discard(&self, entry: &QueueEntry) -> Result<(), StoreError> {
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("HDEL")
            .arg(keys::message(&entry.message_id))
            .arg(keys::claim_field(&entry.entry_id))
            .ignore();
        let _: () = acknowledge(&mut pipe, entry)
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    /// Returns due scheduled and deferred messages to their stream; the count moved.
    pub async fn promote_due(
        &self,
        now: OffsetDateTime,
        limit: usize,
    ) -> Result<usize, StoreError> {
        let moved = scripts::PROMOTE
            .call()
            .key(keys::delayed())
            .key(keys::stream(MessageStream::Transactional))
            .key(keys::stream(MessageStream::Bulk))
            .key(keys::fair_bulk())
            .key(keys::fair_bulk_times())
            .key(keys::scheduled_bulk_owners())
            .arg(to_ms(now))
            .arg(limit)
            .arg(crate::FAIR_BACKLOG)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(reply::int("promote", moved)?.max(0) as usize)
    }

    pub async fn depth(&self) -> Result<QueueDepth, StoreError> {
        queue_depth(&mut self.conn.clone()).await
    }
}

/// Adds the acknowledgement and deletion of `entry` to `pipe`.
fn acknowledge<'a>(pipe: &'a mut redis::Pipeline, entry: &QueueEntry) -> &'a mut redis::Pipeline {
    pipe.cmd("XACK")
        .arg(keys::stream(entry.stream))
        .arg(keys::GROUP)
        .arg(&entry.entry_id)
        .ignore()
        .cmd("XDEL")
        .arg(keys::stream(entry.stream))
        .arg(&entry.entry_id)
        .ignore()
}

/// Queue lengths in one round trip (pipelined), with O(1) commands only: XLEN, the
/// XPENDING summary and ZCARD, never a SCAN (`/metrics` samples this).
pub(crate) async fn queue_depth(conn: &mut ConnectionManager) -> Result<QueueDepth, StoreError> {
    let mut pipe = redis::pipe();
    // XPENDING fails with NOGROUP until a worker has created the group; that is
    // "nothing in flight", not a failure (an API-only deployment reads depth too).
    pipe.ignore_errors();
    for stream in MessageStream::ALL {
        pipe.cmd("XLEN").arg(keys::stream(stream));
        pipe.cmd("XPENDING")
            .arg(keys::stream(stream))
            .arg(keys::GROUP);
    }
    pipe.cmd("ZCARD").arg(keys::delayed());
    pipe.cmd("ZCARD").arg(keys::fair_bulk());
    let (t_len, t_pending, b_len, b_pending, delayed, fair): (
        u64,
        redis::Value,
        u64,
        redis::Value,
        u64,
        u64,
    ) = pipe.query_async(conn).await?;
    let pending = |v: redis::Value| match v {
        redis::Value::Array(items) => Ok(items
            .first()
            .and_then(|c| redis::from_redis_value_ref::<u64>(c).ok())
            .unwrap_or(0)),
        redis::Value::ServerError(e) if e.code() == "NOGROUP" => Ok(0),
        redis::Value::ServerError(e) => Err(StoreError::Redis(e.into())),
        _ => Ok(0),
    };
    let (t_pending, b_pending) = (pending(t_pending)?, pending(b_pending)?);
    Ok(QueueDepth {
        transactional: t_len.saturating_sub(t_pending),
        bulk: b_len.saturating_sub(b_pending) + fair,
        delayed,
        in_flight: t_pending + b_pending,
    })
}

pub(crate) fn to_entry(
    stream: MessageStream,
    entry: redis::streams::StreamId,
) -> Option<QueueEntry> {
    let message_id = entry
        .get::<String>(keys::ENTRY_MESSAGE)
        .and_then(|m| MessageId::parse(&m).ok());
    match message_id {
        Some(message_id) => Some(QueueEntry {
            stream,
            entry_id: entry.id,
            message_id,
        }),
        None => {
            tracing::warn!(entry = %entry.id, %stream, "queue entry without a valid message id; skipping");
            None
        }
    }
}
