//! The reputation guard's storage, in the tenant's slot: per-stream counts of
//! delivered, hard-bounced and complained recipients in time buckets (the rolling
//! window), the marks that make counting at-most-once per event, the state (the level
//! announced per stream, and the bulk pause), and an outbox of events.
//!
//! **Why an outbox.** A state change and its event belong in one atomic call, but the
//! event stream lives in a queue partition's slot and the state in the tenant's: on a
//! Redis Cluster no script can write both. So the change writes its event to the
//! tenant's outbox in the same call, and the event is then moved to the event stream
//! ([`Store::flush_reputation_outbox`]): at least once, since whoever next counts for
//! the tenant (or resumes it) flushes what a crash left behind.
//!
//! Held bulk mail sits in the message's partition ([`keys::held_bulk`]) as well as in
//! the delayed set, where it comes back by itself every hold interval; resuming moves
//! what is held to the front of the delayed set at once.

use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::Duration;

use redis::{AsyncCommands, Script};
use sluice_model::{
    BulkPause, MessageEvent, MessageId, MessageStream, ReputationLevel, ReputationPolicy,
    StreamCounts, TenantId,
};

use crate::keys::{self, reputation_field, reputation_kind};
use crate::reply::{self, Reply};
use crate::{Partition, Store, StoreError, now_ms};

static COUNT: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/reputation_count.lua")));
static CHANGE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/reputation_change.lua")));
static RESUME: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/reputation_resume.lua")));
static RELEASE_HELD: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/release_held.lua")));

/// What one counted event adds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CountKind {
    Delivered,
    HardBounced,
    Complained,
}

impl CountKind {
    fn field(self) -> &'static str {
        match self {
            CountKind::Delivered => reputation_kind::DELIVERED,
            CountKind::HardBounced => reputation_kind::HARD_BOUNCED,
            CountKind::Complained => reputation_kind::COMPLAINED,
        }
    }
}

/// One event to count: its feed entry id (what makes counting it twice a no-op).
#[derive(Clone, Debug)]
pub struct Countable {
    pub feed_entry: String,
    pub stream: MessageStream,
    pub kind: CountKind,
}

/// Where the window's buckets are: the current one, the oldest kept, and how long
/// the counts live without new ones.
#[derive(Clone, Copy, Debug)]
pub struct BucketWindow {
    pub current: i64,
    pub oldest: i64,
    pub expiry: Duration,
}

impl BucketWindow {
    /// `policy`'s window at `now_ms`; idle counts are kept for two windows (at least
    /// an hour).
    pub fn of(policy: &ReputationPolicy, now_ms: i64) -> Self {
        let (current, oldest) = policy.buckets(now_ms);
        Self {
            current,
            oldest,
            expiry: (policy.window * 2).max(Duration::from_secs(3600)),
        }
    }
}

/// A tenant's counts over the window and its guard state.
#[derive(Clone, Debug, Default)]
pub struct ReputationSnapshot {
    pub counts: HashMap<MessageStream, StreamCounts>,
    /// The level announced per stream, as stored (`None`: none yet, i.e. ok).
    pub levels: HashMap<MessageStream, Option<ReputationLevel>>,
    /// The stored spelling of each level, for the compare-and-set of a change.
    pub raw_levels: HashMap<MessageStream, String>,
    pub bulk_paused: Option<BulkPause>,
    /// Events waiting in the outbox.
    pub outbox: u64,
    /// Events this call counted (0 when all were counted before).
    pub counted: u64,
}

/// A stream's move to a new level, with what announces it.
#[derive(Clone, Debug)]
pub struct ReputationChange {
    pub stream: MessageStream,
    /// The level as read (from [`ReputationSnapshot::raw_levels`]).
    pub from_raw: String,
    pub to: ReputationLevel,
    /// Set to pause the bulk stream.
    pub pause: Option<BulkPause>,
    pub event: Option<MessageEvent>,
}

fn json<T: serde::Serialize>(what: &str, value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::corrupt(what, e))
}

/// A unique outbox field for an event decided now.
fn outbox_field(event: &MessageEvent) -> String {
    format!(
        "{}:{}:{:08x}",
        now_ms(),
        event.kind.as_str(),
        rand::random::<u32>()
    )
}

impl Store {
    /// Counts `events` (one tenant's, from `partition`'s fan-out, in feed order) and
    /// reads the window. With `partition` `None` (and no events), only reads.
    pub async fn count_reputation(
        &self,
        tenant: &TenantId,
        partition: Option<Partition>,
        events: &[Countable],
        window: BucketWindow,
    ) -> Result<ReputationSnapshot, StoreError> {
        let mut invocation = COUNT.prepare_invoke();
        invocation
            .key(keys::reputation_counts(
                tenant,
                MessageStream::Transactional,
            ))
            .key(keys::reputation_counts(tenant, MessageStream::Bulk))
            .key(keys::reputation_marks(tenant))
            .key(keys::reputation_state(tenant))
            .key(keys::reputation_outbox(tenant))
            .arg(partition.map(|p| p.to_string()).unwrap_or_default())
            .arg(window.current)
            .arg(window.oldest)
            .arg(window.expiry.as_millis().max(1) as u64)
            .arg(reputation_field::level(MessageStream::Transactional))
            .arg(reputation_field::level(MessageStream::Bulk))
            .arg(reputation_field::BULK_PAUSED)
            .arg(reputation_kind::DELIVERED)
            .arg(reputation_kind::HARD_BOUNCED)
            .arg(reputation_kind::COMPLAINED);
        if partition.is_some() {
            for event in events {
                let stream = match event.stream {
                    MessageStream::Transactional => 1,
                    MessageStream::Bulk => 2,
                };
                invocation
                    .arg(&event.feed_entry)
                    .arg(stream)
                    .arg(event.kind.field());
            }
        }
        let value: redis::Value = invocation.invoke_async(&mut self.conn()).await?;
        let mut reply = Reply::new("reputation_count", value)?;
        let mut snapshot = ReputationSnapshot::default();
        for stream in MessageStream::ALL {
            let mut count = |what| reply.int(what).map(|n| n.max(0) as u64);
            let counts = StreamCounts {
                delivered: count("delivered")?,
                hard_bounced: count("hard bounced")?,
                complained: count("complained")?,
            };
            snapshot.counts.insert(stream, counts);
        }
        for stream in MessageStream::ALL {
            let raw = reply.text("level")?;
            snapshot.levels.insert(
                stream,
                ReputationLevel::parse(&raw).filter(|_| !raw.is_empty()),
            );
            snapshot.raw_levels.insert(stream, raw);
        }
        let paused = reply.text("bulk paused")?;
        if !paused.is_empty() {
            snapshot.bulk_paused = Some(
                serde_json::from_str(&paused)
                    .map_err(|e| StoreError::corrupt(reputation_field::BULK_PAUSED, e))?,
            );
        }
        snapshot.outbox = reply.int("outbox")?.max(0) as u64;
        snapshot.counted = reply.int("counted")?.max(0) as u64;
        reply.end()?;
        Ok(snapshot)
    }

    /// Applies `change` if the stream is still at the level it was judged from;
    /// `false` when another process changed it first (nothing written).
    pub async fn change_reputation(
        &self,
        tenant: &TenantId,
        change: &ReputationChange,
    ) -> Result<bool, StoreError> {
        let pause = match &change.pause {
            Some(pause) => json("pause", pause)?,
            None => String::new(),
        };
        let (field, event) = match &change.event {
            Some(event) => (outbox_field(event), json("event", event)?),
            None => (String::new(), String::new()),
        };
        let changed = CHANGE
            .key(keys::reputation_state(tenant))
            .key(keys::reputation_outbox(tenant))
            .arg(reputation_field::level(change.stream))
            .arg(&change.from_raw)
            .arg(change.to.as_str())
            .arg(reputation_field::BULK_PAUSED)
            .arg(pause)
            .arg(field)
            .arg(event)
            .invoke_async(&mut self.conn())
            .await?;
        Ok(reply::int("reputation_change", changed)? == 1)
    }

    /// Moves the tenant's outbox to the event stream (see the module doc); returns
    /// how many events went out.
    pub async fn flush_reputation_outbox(&self, tenant: &TenantId) -> Result<usize, StoreError> {
        let key = keys::reputation_outbox(tenant);
        let waiting: HashMap<String, String> = self.conn().hgetall(&key).await?;
        let mut waiting: Vec<(String, String)> = waiting.into_iter().collect();
        // Fields start with the time they were decided: oldest first.
        waiting.sort();
        let mut sent = 0;
        for (field, json) in waiting {
            match serde_json::from_str::<MessageEvent>(&json) {
                Ok(event) => {
                    self.record_tenant_event(tenant, &event).await?;
                    sent += 1;
                }
                Err(e) => {
                    tracing::error!(%tenant, %field, error = %e, "dropping an unreadable reputation event");
                }
            }
            let _: () = self.conn().hdel(&key, &field).await?;
        }
        Ok(sent)
    }

    /// Why and since when the tenant's bulk stream is paused, if it is.
    pub async fn bulk_pause(&self, tenant: &TenantId) -> Result<Option<BulkPause>, StoreError> {
        let json: Option<String> = self
            .conn()
            .hget(
                keys::reputation_state(tenant),
                reputation_field::BULK_PAUSED,
            )
            .await?;
        json.map(|json| {
            serde_json::from_str(&json)
                .map_err(|e| StoreError::corrupt(reputation_field::BULK_PAUSED, e))
        })
        .transpose()
    }

    /// Lifts the bulk pause (with `event`, `tenant.resumed`), starts the bulk counts
    /// afresh, sends the event and releases the held bulk mail in every partition.
    /// `None` when the stream was not paused (nothing changed).
    pub async fn resume_bulk(
        &self,
        tenant: &TenantId,
        event: &MessageEvent,
    ) -> Result<Option<(BulkPause, u64)>, StoreError> {
        let lifted = RESUME
            .key(keys::reputation_state(tenant))
            .key(keys::reputation_outbox(tenant))
            .key(keys::reputation_counts(tenant, MessageStream::Bulk))
            .arg(reputation_field::BULK_PAUSED)
            .arg(reputation_field::level(MessageStream::Bulk))
            .arg(outbox_field(event))
            .arg(json("event", event)?)
            .invoke_async(&mut self.conn())
            .await?;
        let Some(lifted) = reply::optional_text("reputation_resume", lifted)? else {
            return Ok(None);
        };
        let pause: BulkPause = serde_json::from_str(&lifted)
            .map_err(|e| StoreError::corrupt(reputation_field::BULK_PAUSED, e))?;
        self.flush_reputation_outbox(tenant).await?;
        let released = self.release_held_bulk(tenant).await?;
        Ok(Some((pause, released)))
    }

    /// Notes that `id` (bulk, in partition `p`) is held for its tenant's pause, so a
    /// resume releases it at once rather than at its next check.
    pub async fn hold_bulk(
        &self,
        p: Partition,
        tenant: &TenantId,
        id: &MessageId,
    ) -> Result<(), StoreError> {
        let key = keys::held_bulk(p, tenant);
        let _: () = redis::pipe()
            .sadd(&key, id.as_str())
            .ignore()
            .pexpire(&key, self.retention.as_millis() as i64)
            .ignore()
            .query_async(&mut self.conn())
            .await?;
        Ok(())
    }

    /// Makes every held bulk message of the tenant due now, in every partition;
    /// returns how many were made due.
    pub async fn release_held_bulk(&self, tenant: &TenantId) -> Result<u64, StoreError> {
        const CHUNK: i64 = 1000;
        let prefix = format!("{}{}", MessageStream::Bulk.as_str(), keys::MEMBER_SEPARATOR);
        let mut due_total = 0;
        for p in self.served_partitions() {
            loop {
                let value: redis::Value = RELEASE_HELD
                    .key(keys::held_bulk(p, tenant))
                    .key(keys::delayed(p))
                    .arg(now_ms())
                    .arg(&prefix)
                    .arg(CHUNK)
                    .invoke_async(&mut self.conn())
                    .await?;
                let mut reply = Reply::new("release_held", value)?;
                let taken = reply.int("taken")?;
                due_total += reply.int("due")?.max(0) as u64;
                reply.end()?;
                if taken < CHUNK {
                    break;
                }
            }
        }
        Ok(due_total)
    }

    /// The stream of each message of partition `p` (`None`: no record any more).
    pub async fn message_streams(
        &self,
        p: Partition,
        ids: &[&MessageId],
    ) -> Result<Vec<Option<MessageStream>>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.hget(keys::message(p, id), keys::msg::STREAM);
        }
        let streams: Vec<Option<String>> = pipe.query_async(&mut self.conn()).await?;
        Ok(streams
            .into_iter()
            .map(|s| s.as_deref().and_then(MessageStream::parse))
            .collect())
    }
}
