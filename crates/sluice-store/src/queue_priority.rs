//! Reading transactional entries only, for a worker's reserved slots: while bulk
//! deliveries hold every other slot, the worker still has one slot blocked here, so an
//! OTP is read the moment it is queued rather than when a bulk delivery ends.
//!
//! It shares the queue's `extra` entries (what several partitions answered beyond the
//! count asked for) with [`Queue::next_batch`], so recovery never mistakes an entry
//! read ahead for a lost one; it takes only transactional entries from there and
//! leaves bulk ones to the main reads. Blocking reads go through an idle watch of its
//! own whose readers block on the transactional streams only.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sluice_model::MessageStream;

use crate::connection::Conn;
use crate::partitions::Partitions;
use crate::queue::Queue;
use crate::queue_idle::IdleWatch;
use crate::queue_read::{MAX_BLOCK, QueueEntry, entries_read, read_entries};
use crate::{Partition, StoreError};

const TRANSACTIONAL: &[MessageStream] = &[MessageStream::Transactional];

/// Reads of the transactional streams of every partition; see the module doc.
pub struct TransactionalReader {
    conn: Conn,
    partitions: Arc<Partitions>,
    extra: Arc<Mutex<VecDeque<QueueEntry>>>,
    idle: IdleWatch,
}

impl Queue {
    /// A reader of this queue's transactional entries only (its blocking readers
    /// connect on first use).
    pub fn transactional_reader(&self) -> TransactionalReader {
        TransactionalReader {
            conn: self.conn.clone(),
            partitions: self.partitions.clone(),
            extra: self.extra.clone(),
            idle: IdleWatch::for_streams(
                self.idle.backend().clone(),
                self.extra.clone(),
                TRANSACTIONAL,
            ),
        }
    }
}

impl TransactionalReader {
    /// Up to `count` new transactional entries of any partition; waits up to `block`
    /// (at most [`MAX_BLOCK`]) when there are none. Entries beyond `count` (several
    /// partitions answered) are kept for the next read of either kind.
    pub async fn next(
        &self,
        consumer: &str,
        count: usize,
        block: Duration,
    ) -> Result<Vec<QueueEntry>, StoreError> {
        let count = count.max(1);
        let entries = self.take_extra(count);
        if !entries.is_empty() {
            return Ok(entries);
        }
        let partitions: Vec<Partition> = self.partitions.served();
        let reads = partitions.iter().map(|p| {
            let conn = &self.conn;
            async move { read_entries(conn, *p, consumer, count, TRANSACTIONAL, None).await }
        });
        let mut entries = entries_read(futures_util::future::join_all(reads).await)?;
        if entries.is_empty() && !block.is_zero() {
            self.idle
                .wait(&partitions, consumer, block.min(MAX_BLOCK))
                .await;
            return Ok(self.take_extra(count));
        }
        if entries.len() > count {
            let rest = entries.split_off(count);
            self.lock_extra().extend(rest);
        }
        Ok(entries)
    }

    /// Up to `count` transactional entries read earlier, leaving bulk ones in place.
    fn take_extra(&self, count: usize) -> Vec<QueueEntry> {
        let mut extra = self.lock_extra();
        let mut taken = Vec::new();
        let mut kept = VecDeque::with_capacity(extra.len());
        for entry in extra.drain(..) {
            if taken.len() < count && entry.stream == MessageStream::Transactional {
                taken.push(entry);
            } else {
                kept.push_back(entry);
            }
        }
        *extra = kept;
        taken
    }

    fn lock_extra(&self) -> std::sync::MutexGuard<'_, VecDeque<QueueEntry>> {
        self.extra.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
