//! The worker side of the queues: priority reads, reclaiming a crashed worker's
//! entries, settling attempts, and moving due retries back into their stream.

use std::time::Duration;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use sluice_model::{
    MessageEvent, MessageStatus, MessageStream, OutboundMessage, RecipientState, TenantId,
};
use time::OffsetDateTime;

use crate::body;
use crate::connection::Conn;
use crate::keys::{self, msg};
use crate::messages::parse_status;
use crate::partitions::Partitions;
use crate::queue_depth::QueueDepth;
pub use crate::queue_read::{MAX_BLOCK, QueueEntry};
use crate::queue_read::{entries_read, read_entries};
use crate::reply::{self, Reply};
use crate::{Partition, Store, StoreError, from_ms, now_ms, scripts, to_ms};

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
    /// Sent with a sandbox (test) key: the worker simulates its delivery.
    pub test: bool,
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

#[derive(Clone)]
pub struct Queue {
    pub(crate) conn: Conn,
    /// For blocking reads (one partition: the only reader; several: see `idle`).
    reader: Conn,
    retention: Duration,
    pub(crate) partitions: Arc<Partitions>,
    /// Entries read beyond what was asked for (several partitions are read at once):
    /// handed out first by the next [`Queue::next_batch`], transactional first.
    /// Already this consumer's in Redis, so recovery leaves them alone.
    pub(crate) extra: Arc<Mutex<VecDeque<QueueEntry>>>,
    /// Per-partition blocking readers, woken when every partition is empty.
    pub(crate) idle: Arc<crate::queue_idle::IdleWatch>,
}

impl Queue {
    pub(crate) async fn new(store: &Store) -> Result<Self, StoreError> {
        let reader = store
            .backend
            .connect(MAX_BLOCK + Duration::from_secs(10))
            .await?;
        let extra = Arc::new(Mutex::new(VecDeque::new()));
        let queue = Self {
            conn: store.conn(),
            reader,
            retention: store.retention,
            partitions: store.partitions.clone(),
            idle: Arc::new(crate::queue_idle::IdleWatch::new(
                store.backend.clone(),
                extra.clone(),
            )),
            extra,
        };
        queue.ensure_groups().await?;
        Ok(queue)
    }

    /// Every partition that may hold mail (see `partitions`).
    pub fn partitions(&self) -> Vec<Partition> {
        self.partitions.served()
    }

    /// Creates the streams and the consumer group of every partition if missing. The
    /// group starts at id 0 so messages accepted before any worker ever ran are still
    /// delivered.
    pub async fn ensure_groups(&self) -> Result<(), StoreError> {
        for p in self.partitions() {
            for stream in MessageStream::ALL {
                let created: Result<(), redis::RedisError> = redis::cmd("XGROUP")
                    .arg("CREATE")
                    .arg(keys::stream(p, stream))
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
        }
        Ok(())
    }

    /// Up to `count` new entries: transactional first, of every partition, bulk only
    /// when no transactional entry waits (topped up from the fair queue first, a
    /// share from each partition); waits up to `block` when everything is empty.
    /// Several partitions read at once may answer with more than `count`: the rest
    /// are kept (already this consumer's in Redis) and handed out first next time.
    pub async fn next_batch(
        &self,
        consumer: &str,
        count: usize,
        block: Duration,
    ) -> Result<Vec<QueueEntry>, StoreError> {
        let count = count.max(1);
        let mut entries = self.take_extra(count);
        if !entries.is_empty() {
            return Ok(entries);
        }
        let partitions = self.partitions();
        if let [only] = partitions[..] {
            return self.next_batch_of(only, consumer, count, block).await;
        }
        let start = self.idle.next_start(partitions.len());
        let order: Vec<Partition> = partitions[start..]
            .iter()
            .chain(&partitions[..start])
            .copied()
            .collect();
        for stream in MessageStream::ALL {
            // Bulk: a share each, so a worker never hoards another's campaign.
            let each = match stream {
                MessageStream::Transactional => count,
                MessageStream::Bulk => count.div_ceil(order.len()),
            };
            let reads = order.iter().map(|p| async move {
                if stream == MessageStream::Bulk {
                    self.feed_bulk(*p, each).await?;
                }
                read_entries(&self.conn, *p, consumer, each, &[stream], None).await
            });
            let found = entries_read(futures_util::future::join_all(reads).await)?;
            entries.extend(found);
            if !entries.is_empty() {
                return Ok(self.keep_extra(entries, count));
            }
        }
        if block.is_zero() {
            return Ok(Vec::new());
        }
        // Everything is empty: one blocking reader per partition, until one has mail.
        self.idle.wait(&order, consumer, block.min(MAX_BLOCK)).await;
        Ok(self.take_extra(count))
    }

    /// One partition: transactional first, then bulk, then a blocking read of both.
    async fn next_batch_of(
        &self,
        p: Partition,
        consumer: &str,
        count: usize,
        block: Duration,
    ) -> Result<Vec<QueueEntry>, StoreError> {
        for stream in MessageStream::ALL {
            if stream == MessageStream::Bulk {
                self.feed_bulk(p, count).await?;
            }
            let entries = read_entries(&self.conn, p, consumer, count, &[stream], None).await?;
            if !entries.is_empty() {
                return Ok(entries);
            }
        }
        if block.is_zero() {
            return Ok(Vec::new());
        }
        let mut entries = read_entries(
            &self.reader,
            p,
            consumer,
            count,
            &MessageStream::ALL,
            Some(block.min(MAX_BLOCK)),
        )
        .await?;
        entries.sort_by_key(|e| e.stream != MessageStream::Transactional);
        Ok(entries)
    }

    /// Hands out up to `count` of the entries read earlier, transactional first.
    fn take_extra(&self, count: usize) -> Vec<QueueEntry> {
        let mut extra = self
            .extra
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        extra
            .make_contiguous()
            .sort_by_key(|e| e.stream != MessageStream::Transactional);
        let n = count.min(extra.len());
        extra.drain(..n).collect()
    }

    /// Returns `count` of `entries` (transactional first) and keeps the rest.
    fn keep_extra(&self, mut entries: Vec<QueueEntry>, count: usize) -> Vec<QueueEntry> {
        entries.sort_by_key(|e| e.stream != MessageStream::Transactional);
        if entries.len() > count {
            let rest = entries.split_off(count);
            self.extra
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .extend(rest);
        }
        entries
    }

    /// Moves bulk mail from the fair queue into the bulk stream, tenants interleaved,
    /// keeping the stream's unread part short so a newcomer never waits long.
    async fn feed_bulk(&self, p: Partition, count: usize) -> Result<u64, StoreError> {
        let moved = scripts::FEED_BULK
            .call()
            .key(keys::fair_bulk(p))
            .key(keys::fair_bulk_times(p))
            .key(keys::stream(p, MessageStream::Bulk))
            .arg(self.partitions.fair_backlog())
            .arg(count.max(1))
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(reply::int("feed_bulk", moved)?.max(0) as u64)
    }

    /// Loads and claims the job behind an entry. The claim, taken atomically with the
    /// read, makes a cancellation wait for this attempt to settle (409) instead of
    /// racing it; [`Queue::settle`] and [`Queue::discard`] release it.
    pub async fn load(&self, entry: &QueueEntry) -> Result<Loaded, StoreError> {
        let key = keys::message(entry.partition, &entry.message_id);
        let fields = scripts::CLAIM
            .call()
            .key(&key)
            .arg(keys::claim_field(&entry.entry_id))
            .arg(now_ms())
            .invoke_async(&mut self.conn.clone())
            .await?;
        let fields = Reply::new("claim", fields)?.binary_pairs()?;
        if fields.is_empty() {
            return Ok(Loaded::Missing);
        }
        let text = |name: &str| {
            fields
                .get(name)
                .and_then(|v| std::str::from_utf8(v).ok())
                .unwrap_or_default()
        };
        let status = match parse_status(text(msg::STATUS)) {
            Some(status) if !status.is_final() => status,
            _ => return Ok(Loaded::Finished),
        };
        let Some(body) = fields.get(msg::BODY) else {
            return Ok(Loaded::Finished);
        };
        let corrupt = |reason: String| StoreError::corrupt(&key, reason);
        let message = body::open(
            &mut self.conn.clone(),
            entry.partition,
            &key,
            body,
            self.retention,
        )
        .await?;
        Ok(Loaded::Job(Box::new(DeliveryJob {
            entry: entry.clone(),
            tenant: TenantId::parse(text(msg::TENANT)).map_err(|e| corrupt(e.to_string()))?,
            status,
            message,
            message_id_header: text(msg::MESSAGE_ID_HEADER).to_string(),
            recipients: serde_json::from_str(text(msg::RECIPIENTS))
                .map_err(|e| corrupt(e.to_string()))?,
            attempts: text(msg::ATTEMPTS).parse().unwrap_or_default(),
            created_at: from_ms(text(msg::CREATED_AT).parse().unwrap_or_default()),
            test: text(msg::TEST) == "1",
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
            .arg(keys::lost_entries(entry.partition))
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
            .key(keys::message(entry.partition, &entry.message_id))
            .key(keys::message_events(entry.partition, &entry.message_id))
            .key(keys::stream(entry.partition, entry.stream))
            .key(keys::delayed(entry.partition))
            .key(keys::event_stream(entry.partition));
        if settlement.retry_at.is_some() {
            for name in &settlement.waitlists {
                invocation.key(keys::waitlist(entry.partition, name));
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
    /// their streams, from every partition. Returns how many moved and how many
    /// entries are still listed (some may be stale: already moved by their fallback
    /// time).
    pub async fn release_waiting(&self, name: &str, count: u32) -> Result<(u64, u64), StoreError> {
        let (mut released, mut waiting) = (0, 0);
        for p in self.partitions() {
            let wanted = count.saturating_sub(released as u32);
            // Once enough moved, only count what the other partitions still hold.
            let reply = scripts::RELEASE_WAITING
                .call()
                .key(keys::waitlist(p, name))
                .key(keys::delayed(p))
                .key(keys::stream(p, MessageStream::Transactional))
                .key(keys::stream(p, MessageStream::Bulk))
                .arg(wanted)
                .arg(if wanted == 0 {
                    0
                } else {
                    wanted.saturating_mul(4).max(16)
                })
                .invoke_async(&mut self.conn.clone())
                .await?;
            let mut reply = Reply::new("release_waiting", reply)?;
            released += reply.int("released")?.max(0) as u64;
            waiting += reply.int("waiting")?.max(0) as u64;
            reply.end()?;
        }
        Ok((released, waiting))
    }

    /// Acknowledges an entry with nothing left to do (its record is final, cancelled,
    /// gone or unreadable), releasing any claim its load took.
    pub async fn discard(&self, entry: &QueueEntry) -> Result<(), StoreError> {
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("HDEL")
            .arg(keys::message(entry.partition, &entry.message_id))
            .arg(keys::claim_field(&entry.entry_id))
            .ignore();
        let _: () = acknowledge(&mut pipe, entry)
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    /// Returns due scheduled and deferred messages to their stream, in every
    /// partition; the count moved.
    pub async fn promote_due(
        &self,
        now: OffsetDateTime,
        limit: usize,
    ) -> Result<usize, StoreError> {
        let mut moved = 0;
        for p in self.partitions() {
            let count = scripts::PROMOTE
                .call()
                .key(keys::delayed(p))
                .key(keys::stream(p, MessageStream::Transactional))
                .key(keys::stream(p, MessageStream::Bulk))
                .key(keys::fair_bulk(p))
                .key(keys::fair_bulk_times(p))
                .key(keys::scheduled_bulk_owners(p))
                .arg(to_ms(now))
                .arg(limit)
                .arg(self.partitions.fair_backlog())
                .invoke_async(&mut self.conn.clone())
                .await?;
            moved += reply::int("promote", count)?.max(0) as usize;
        }
        Ok(moved)
    }

    pub async fn depth(&self) -> Result<QueueDepth, StoreError> {
        crate::queue_depth::queue_depth(&mut self.conn.clone(), &self.partitions()).await
    }
}

/// Adds the acknowledgement and deletion of `entry` to `pipe`.
fn acknowledge<'a>(pipe: &'a mut redis::Pipeline, entry: &QueueEntry) -> &'a mut redis::Pipeline {
    pipe.cmd("XACK")
        .arg(keys::stream(entry.partition, entry.stream))
        .arg(keys::GROUP)
        .arg(&entry.entry_id)
        .ignore()
        .cmd("XDEL")
        .arg(keys::stream(entry.partition, entry.stream))
        .arg(&entry.entry_id)
        .ignore()
}
