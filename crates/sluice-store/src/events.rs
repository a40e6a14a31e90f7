//! The event pipeline's storage: every event is written to the event stream in the
//! same atomic call that changes the message, then the fan-out copies it to the
//! tenant's feed (and hands it to suppression and webhooks) and acknowledges it.
//!
//! Each queue partition has its event stream (written with its messages); the feed
//! is the tenant's, one for all partitions. The copy gives an event its feed id, its
//! one stable id from then on (`evt_<feed entry id>`, in webhooks too), increasing
//! across partitions. Copying an event twice (a fan-out that crashed before
//! acknowledging) is skipped by a per-partition mark and returns the first copy's
//! id (see `scripts/feed_copy.lua`): at-least-once processing, exactly-once feed.

use std::collections::BTreeMap;
use std::time::Duration;

use redis::AsyncCommands;
use redis::streams::StreamId;
use sluice_model::{EventRecord, EventType, MessageEvent, MessageId, RecipientStatus, TenantId};
use time::OffsetDateTime;

use crate::connection::Conn;
use crate::keys::{self, event_entry, msg};
use crate::reply;
use crate::{Partition, Store, StoreError, now_ms, scripts, to_ms};

/// An event read from the event stream, not yet acknowledged.
#[derive(Clone, Debug)]
pub struct PendingEvent {
    /// The entry id in its partition's event stream.
    pub entry_id: String,
    pub tenant: TenantId,
    pub record: EventRecord,
}

/// What `GET /v1/events` may filter on.
#[derive(Clone, Debug, Default)]
pub struct EventFilter {
    pub types: Vec<EventType>,
    /// Case-insensitive.
    pub recipient: Option<String>,
    pub tag: Option<String>,
    pub message_id: Option<MessageId>,
    pub since: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
}

impl EventFilter {
    fn matches(&self, record: &EventRecord) -> bool {
        (self.types.is_empty() || self.types.contains(&record.event.kind))
            && self.recipient.as_deref().is_none_or(|want| {
                record
                    .event
                    .recipient
                    .as_deref()
                    .is_some_and(|r| r.eq_ignore_ascii_case(want))
            })
            && self
                .tag
                .as_deref()
                .is_none_or(|tag| record.tags.iter().any(|t| t == tag))
            && self
                .message_id
                .as_ref()
                .is_none_or(|id| record.message_id.as_ref() == Some(id))
    }
}

/// One page of a tenant's feed, newest first.
#[derive(Clone, Debug)]
pub struct EventPage {
    pub events: Vec<EventRecord>,
    /// Pass back as `cursor` for the next (older) page; `None` at the end.
    pub next_cursor: Option<String>,
}

/// The fan-out's side of one partition's event stream: its own connection for
/// blocking reads.
#[derive(Clone)]
pub struct EventStream {
    conn: Conn,
    reader: Conn,
    retention: Duration,
    partition: Partition,
}

impl Store {
    pub async fn event_stream(&self, partition: Partition) -> Result<EventStream, StoreError> {
        // Blocking reads: the reply may take the whole block time, so the response
        // timeout must outlast it (the default would cut every idle read short).
        let reader = self
            .backend
            .connect(crate::queue::MAX_BLOCK + Duration::from_secs(10))
            .await?;
        let stream = EventStream {
            conn: self.conn(),
            reader,
            retention: self.retention,
            partition,
        };
        stream.ensure_group().await?;
        Ok(stream)
    }

    /// The partition holding message `id`, among those it may be in (see
    /// `partitions`); `None` when no record is found (past retention, or unknown).
    pub(crate) async fn locate(&self, id: &MessageId) -> Result<Option<Partition>, StoreError> {
        let candidates = self.partitions.candidates(id);
        if let [only] = candidates[..] {
            return Ok(Some(only));
        }
        let mut conn = self.conn();
        for p in &candidates {
            if conn.exists(keys::message(*p, id)).await? {
                return Ok(Some(*p));
            }
        }
        // A process with another partition count may have started since we looked.
        self.partitions.refresh(&mut conn).await?;
        for p in self.partitions.candidates(id) {
            if !candidates.contains(&p) && conn.exists(keys::message(p, id)).await? {
                return Ok(Some(p));
            }
        }
        Ok(None)
    }

    /// Records an event that arrives after delivery (a DSN bounce, a complaint, an
    /// unsubscribe) on the message, optionally moving the recipient to `status`.
    /// `false` when the message (past retention) or the recipient is unknown.
    pub async fn record_message_event(
        &self,
        message: &MessageId,
        recipient: &str,
        status: Option<RecipientStatus>,
        event: &MessageEvent,
    ) -> Result<bool, StoreError> {
        let status = status
            .map(|s| {
                serde_json::to_value(s)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()
            })
            .unwrap_or_default();
        let Some(p) = self.locate(message).await? else {
            return Ok(false);
        };
        let recorded = scripts::RECORD_EVENT
            .call()
            .key(keys::message(p, message))
            .key(keys::message_events(p, message))
            .key(keys::event_stream(p))
            .arg(message.as_str())
            .arg(recipient.to_lowercase())
            .arg(status)
            .arg(serde_json::to_string(event).map_err(|e| StoreError::corrupt("event", e))?)
            .arg(now_ms())
            .invoke_async(&mut self.conn())
            .await?;
        Ok(reply::int("record_event", recorded)? == 1)
    }

    /// The address of recipient number `index` of a message (VERP and unsubscribe
    /// tokens carry the index); `None` when the message or index is unknown.
    pub async fn recipient_at(
        &self,
        message: &MessageId,
        index: u16,
    ) -> Result<Option<String>, StoreError> {
        let Some(p) = self.locate(message).await? else {
            return Ok(None);
        };
        let json: Option<String> = redis::cmd("HGET")
            .arg(keys::message(p, message))
            .arg(msg::RECIPIENTS)
            .query_async(&mut self.conn())
            .await?;
        let Some(json) = json else { return Ok(None) };
        let recipients: Vec<sluice_model::RecipientState> =
            serde_json::from_str(&json).map_err(|e| StoreError::corrupt("recipients", e))?;
        Ok(recipients
            .into_iter()
            .nth(usize::from(index))
            .map(|r| r.address))
    }

    /// A recipient unsubscribed (one-click link or mailto): `message.unsubscribed` on
    /// the message; the fan-out then adds the address to the tenant's suppression
    /// list. Returns the address, or `None` when the message is no longer known.
    pub async fn unsubscribe(
        &self,
        message: &MessageId,
        index: u16,
        via: &str,
    ) -> Result<Option<String>, StoreError> {
        let Some(address) = self.recipient_at(message, index).await? else {
            return Ok(None);
        };
        let event = MessageEvent::new(EventType::Unsubscribed, OffsetDateTime::now_utc())
            .recipient(address.clone())
            .detail(format!("unsubscribed via {via}"));
        Ok(self
            .record_message_event(message, &address, None, &event)
            .await?
            .then_some(address))
    }

    /// The key for VERP and unsubscribe HMACs when none is configured: random, made
    /// once and kept in Redis, so every process (and restart) agrees.
    pub async fn generated_secret(&self) -> Result<String, StoreError> {
        let candidate: String = (0..32)
            .map(|_| format!("{:02x}", rand::random::<u8>()))
            .collect();
        let (secret,): (String,) = redis::pipe()
            .cmd("SET")
            .arg(keys::SECRET)
            .arg(&candidate)
            .arg("NX")
            .ignore()
            .cmd("GET")
            .arg(keys::SECRET)
            .query_async(&mut self.conn())
            .await?;
        Ok(secret)
    }

    /// Records an event that is about the tenant rather than a message (a webhook
    /// endpoint disabled, …): straight to the event stream.
    pub async fn record_tenant_event(
        &self,
        tenant: &TenantId,
        event: &MessageEvent,
    ) -> Result<(), StoreError> {
        let p = crate::partitions::partition_of_text(tenant.as_str(), self.partitions.count());
        let _: String = redis::cmd("XADD")
            .arg(keys::event_stream(p))
            .arg("*")
            .arg(event_entry::TENANT)
            .arg(tenant.as_str())
            .arg(event_entry::MESSAGE)
            .arg("")
            .arg(event_entry::EVENT)
            .arg(serde_json::to_string(event).map_err(|e| StoreError::corrupt("event", e))?)
            .arg(event_entry::TAGS)
            .arg("[]")
            .arg(event_entry::METADATA)
            .arg("{}")
            .query_async(&mut self.conn())
            .await?;
        Ok(())
    }

    /// One event of a tenant's feed by id (`evt_…`), e.g. to replay it.
    pub async fn get_event(
        &self,
        tenant: &TenantId,
        event_id: &str,
    ) -> Result<Option<EventRecord>, StoreError> {
        let Some(entry_id) = event_id.strip_prefix("evt_").filter(|id| is_entry_id(id)) else {
            return Ok(None);
        };
        let reply: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
            .arg(keys::tenant_events(tenant))
            .arg(entry_id)
            .arg(entry_id)
            .query_async(&mut self.conn())
            .await?;
        Ok(reply.ids.into_iter().next().and_then(|e| to_record(&e)))
    }

    /// A page of the tenant's feed, newest first, from `cursor` (exclusive). Filters
    /// are applied while reading; at most a bounded number of entries is read per
    /// call, so a page may come back short with a cursor to continue from.
    pub async fn list_events(
        &self,
        tenant: &TenantId,
        filter: &EventFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<EventPage, StoreError> {
        const BUDGET: usize = 5_000;
        let limit = limit.clamp(1, 1000);
        let mut end = match (cursor, filter.until) {
            (Some(cursor), _) => match crate::webhooks::after_cursor(cursor) {
                Some(end) => end,
                None => {
                    return Ok(EventPage {
                        events: Vec::new(),
                        next_cursor: None,
                    });
                }
            },
            (None, Some(until)) => format!("{}-18446744073709551615", to_ms(until).max(0)),
            (None, None) => "+".to_string(),
        };
        let start = filter.since.map_or_else(
            || "-".to_string(),
            |since| format!("{}-0", to_ms(since).max(0)),
        );
        let mut events = Vec::new();
        let mut read = 0;
        let mut conn = self.conn();
        loop {
            let chunk = (limit * 2).clamp(50, 500);
            let reply: redis::streams::StreamRangeReply = redis::cmd("XREVRANGE")
                .arg(keys::tenant_events(tenant))
                .arg(&end)
                .arg(&start)
                .arg("COUNT")
                .arg(chunk)
                .query_async(&mut conn)
                .await?;
            let got = reply.ids.len();
            for entry in &reply.ids {
                read += 1;
                end = format!("({}", entry.id);
                if let Some(record) = to_record(entry).filter(|r| filter.matches(r)) {
                    events.push(record);
                    if events.len() == limit {
                        return Ok(EventPage {
                            events,
                            next_cursor: Some(entry.id.clone()),
                        });
                    }
                }
            }
            if got < chunk {
                return Ok(EventPage {
                    events,
                    next_cursor: None,
                });
            }
            if read >= BUDGET {
                return Ok(EventPage {
                    events,
                    next_cursor: end.strip_prefix('(').map(str::to_string),
                });
            }
        }
    }
}

impl EventStream {
    async fn ensure_group(&self) -> Result<(), StoreError> {
        let created: Result<(), redis::RedisError> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(keys::event_stream(self.partition))
            .arg(keys::FANOUT_GROUP)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut self.conn.clone())
            .await;
        match created {
            Err(e) if e.code() != Some("BUSYGROUP") => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// Up to `count` events for this consumer: first any left unacknowledged for
    /// longer than `reclaim_idle` by a consumer that stopped, then new ones (waiting
    /// up to `block` for them).
    pub async fn next_batch(
        &self,
        consumer: &str,
        count: usize,
        block: Duration,
        reclaim_idle: Duration,
    ) -> Result<Vec<PendingEvent>, StoreError> {
        let claimed: redis::streams::StreamAutoClaimReply = redis::cmd("XAUTOCLAIM")
            .arg(keys::event_stream(self.partition))
            .arg(keys::FANOUT_GROUP)
            .arg(consumer)
            .arg(reclaim_idle.as_millis() as u64)
            .arg("0-0")
            .arg(redis::streams::StreamAutoClaimOptions::default().count(count))
            .query_async(&mut self.conn.clone())
            .await?;
        let mut entries = claimed.claimed;
        if entries.is_empty() {
            let options = redis::streams::StreamReadOptions::default()
                .group(keys::FANOUT_GROUP, consumer)
                .count(count)
                .block(block.min(crate::queue::MAX_BLOCK).as_millis() as usize);
            let reply: redis::streams::StreamReadReply = redis::AsyncCommands::xread_options(
                &mut self.reader.clone(),
                &[keys::event_stream(self.partition)],
                &[">"],
                &options,
            )
            .await?;
            entries = reply.keys.into_iter().flat_map(|k| k.ids).collect();
        }
        let mut pending = Vec::with_capacity(entries.len());
        let mut unreadable = Vec::new();
        for entry in entries {
            let tenant = entry
                .get::<String>(event_entry::TENANT)
                .and_then(|t| TenantId::parse(&t).ok());
            match (tenant, to_record(&entry)) {
                (Some(tenant), Some(record)) => pending.push(PendingEvent {
                    entry_id: entry.id.clone(),
                    tenant,
                    record,
                }),
                _ => unreadable.push(entry.id.clone()),
            }
        }
        if !unreadable.is_empty() {
            tracing::error!(entries = ?unreadable, "unreadable event stream entries dropped");
            self.ack(&unreadable).await?;
        }
        Ok(pending)
    }

    /// The partition whose event stream this reads.
    pub fn partition(&self) -> Partition {
        self.partition
    }

    /// Copies events (of this partition, in stream order) to their tenants' feeds,
    /// skipping those copied before, and sets each record's id to its feed id. One
    /// call per tenant, all tenants at once; the feeds are trimmed to the retention
    /// period. An event copied before whose feed entry is gone (trimmed) keeps an id
    /// made from its source entry.
    pub async fn publish_all(&self, events: &mut [PendingEvent]) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let min_ms = (now_ms() - self.retention.as_millis() as i64).max(0);
        let mut tenants: Vec<(TenantId, Vec<usize>)> = Vec::new();
        for (index, event) in events.iter().enumerate() {
            match tenants.iter_mut().find(|(t, _)| *t == event.tenant) {
                Some((_, members)) => members.push(index),
                None => tenants.push((event.tenant.clone(), vec![index])),
            }
        }
        let mut calls = Vec::with_capacity(tenants.len());
        for (tenant, members) in &tenants {
            let mut invocation = scripts::FEED_COPY.key(keys::tenant_events(tenant));
            invocation
                .key(keys::tenant_events_copied(tenant))
                .arg(event_entry::MESSAGE)
                .arg(event_entry::EVENT)
                .arg(event_entry::TAGS)
                .arg(event_entry::METADATA)
                .arg(event_entry::SOURCE)
                .arg(self.partition.0)
                .arg(format!("{min_ms}-0"));
            for &index in members {
                let event = &events[index];
                let record = &event.record;
                invocation
                    .arg(&event.entry_id)
                    .arg(record.message_id.as_ref().map_or("", |m| m.as_str()))
                    .arg(
                        serde_json::to_string(&record.event)
                            .map_err(|e| StoreError::corrupt("event", e))?,
                    )
                    .arg(serde_json::to_string(&record.tags).unwrap_or_else(|_| "[]".into()))
                    .arg(serde_json::to_string(&record.metadata).unwrap_or_else(|_| "{}".into()));
            }
            let mut conn = self.conn.clone();
            calls.push(async move {
                let ids: Vec<String> = invocation.invoke_async(&mut conn).await?;
                Ok::<_, StoreError>(ids)
            });
        }
        let copied = futures_util::future::try_join_all(calls).await?;
        let partition = self.partition;
        for ((_, members), ids) in tenants.iter().zip(copied) {
            for (&index, id) in members.iter().zip(ids) {
                let event = &mut events[index];
                event.record.id = if id.is_empty() {
                    format!("evt_{}-p{partition}", event.entry_id)
                } else {
                    format!("evt_{id}")
                };
            }
        }
        Ok(())
    }

    /// Acknowledges and deletes processed entries.
    pub async fn ack(&self, entry_ids: &[String]) -> Result<(), StoreError> {
        if entry_ids.is_empty() {
            return Ok(());
        }
        let _: () = redis::pipe()
            .cmd("XACK")
            .arg(keys::event_stream(self.partition))
            .arg(keys::FANOUT_GROUP)
            .arg(entry_ids)
            .ignore()
            .cmd("XDEL")
            .arg(keys::event_stream(self.partition))
            .arg(entry_ids)
            .ignore()
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    /// Events written and not yet fanned out (for metrics).
    pub async fn backlog(&self) -> Result<u64, StoreError> {
        let len: u64 = redis::cmd("XLEN")
            .arg(keys::event_stream(self.partition))
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(len)
    }
}

fn is_entry_id(id: &str) -> bool {
    id.split_once('-').is_some_and(|(ms, seq)| {
        !ms.is_empty()
            && !seq.is_empty()
            && ms.bytes().all(|b| b.is_ascii_digit())
            && seq.bytes().all(|b| b.is_ascii_digit())
    })
}

fn to_record(entry: &StreamId) -> Option<EventRecord> {
    let text = |name: &str| entry.get::<String>(name).unwrap_or_default();
    let event: MessageEvent = serde_json::from_str(&text(event_entry::EVENT)).ok()?;
    let message = text(event_entry::MESSAGE);
    Some(EventRecord {
        id: format!("evt_{}", entry.id),
        message_id: if message.is_empty() {
            None
        } else {
            MessageId::parse(&message).ok()
        },
        event,
        tags: serde_json::from_str(&text(event_entry::TAGS)).unwrap_or_default(),
        metadata: serde_json::from_str::<BTreeMap<String, String>>(&text(event_entry::METADATA))
            .unwrap_or_default(),
    })
}
