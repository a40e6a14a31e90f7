//! Reading queue entries from a partition's streams: the one XREADGROUP that the
//! worker's reads, the idle readers and recovery share.

use std::time::Duration;

use redis::streams::{StreamReadOptions, StreamReadReply};
use sluice_model::{MessageId, MessageStream};

use crate::connection::Conn;
use crate::{Partition, StoreError, keys};

/// The longest a blocking read waits; the reader's connection allows this plus a margin.
pub const MAX_BLOCK: Duration = Duration::from_secs(5);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueEntry {
    /// The queue partition the entry was read from (its message's).
    pub partition: Partition,
    pub stream: MessageStream,
    /// The Redis stream entry id (what XACK needs).
    pub entry_id: String,
    pub message_id: MessageId,
}

/// XREADGROUP of `streams` of partition `p` (blocking up to `block` when given).
pub(crate) async fn read_entries(
    conn: &Conn,
    p: Partition,
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
    let stream_keys: Vec<String> = streams.iter().map(|s| keys::stream(p, *s)).collect();
    let ids = vec![">"; streams.len()];
    let reply: Option<StreamReadReply> = redis::cmd("XREADGROUP")
        .arg(&options)
        .arg("STREAMS")
        .arg(&stream_keys)
        .arg(&ids)
        .query_async(&mut conn.clone())
        .await?;
    let mut entries = Vec::new();
    for key in reply.map(|r| r.keys).unwrap_or_default() {
        let Some(stream) = streams
            .iter()
            .copied()
            .find(|s| keys::stream(p, *s) == key.key)
        else {
            continue;
        };
        entries.extend(
            key.ids
                .into_iter()
                .filter_map(|entry| to_entry(p, stream, entry)),
        );
    }
    Ok(entries)
}

pub(crate) fn to_entry(
    partition: Partition,
    stream: MessageStream,
    entry: redis::streams::StreamId,
) -> Option<QueueEntry> {
    let message_id = entry
        .get::<String>(keys::ENTRY_MESSAGE)
        .and_then(|m| MessageId::parse(&m).ok());
    match message_id {
        Some(message_id) => Some(QueueEntry {
            partition,
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

/// The entries of reads from several partitions at once. Entries a partition handed
/// over are kept even when another partition's read failed (its master failing
/// over): dropped, they would stay pending on this consumer until the lost-track scan
/// found them. The error counts only when nothing was read.
pub(crate) fn entries_read(
    reads: Vec<Result<Vec<QueueEntry>, StoreError>>,
) -> Result<Vec<QueueEntry>, StoreError> {
    let mut entries = Vec::new();
    let mut failed = None;
    for read in reads {
        match read {
            Ok(found) => entries.extend(found),
            Err(e) => failed = Some(e),
        }
    }
    match failed {
        Some(e) if entries.is_empty() => Err(e),
        Some(e) => {
            tracing::warn!(error = %e, "a queue partition could not be read; serving the others");
            Ok(entries)
        }
        None => Ok(entries),
    }
}
