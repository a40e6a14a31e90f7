//! Waiting for mail when the queue has several partitions.
//!
//! One blocking read cannot span partitions (their keys are in different hash
//! slots), so a worker that found every partition empty arms one reader per
//! partition, each blocking on that partition's streams on its own connection (both
//! streams; the worker's transactional lane has a watch of its own on the
//! transactional streams only, see `queue_priority`).
//! The first entry any of them reads wakes the worker. A read that Redis answered
//! is never thrown away: whatever a reader gets, even after the worker moved on, goes
//! to the queue's `extra` entries, which the next `next_batch` hands out first.
//! Each arming lets every reader read once (blocking up to [`READ_BLOCK`]), so the
//! most a wait can take from the queue is one entry per partition: readers never
//! race the worker's own reads for a backlog.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use sluice_model::MessageStream;
use tokio::sync::{Notify, watch};

use crate::Partition;
use crate::connection::Backend;
use crate::queue_read::{MAX_BLOCK, QueueEntry, read_entries};

/// How long one idle read blocks before it checks whether it is still wanted.
const READ_BLOCK: Duration = Duration::from_secs(1);

pub(crate) struct IdleWatch {
    backend: Backend,
    /// The streams each reader blocks on.
    streams: &'static [MessageStream],
    /// Where the next scan of the partitions starts (round robin).
    start: AtomicUsize,
    shared: Arc<Shared>,
    /// The reader task of each (partition, consumer) started so far.
    readers: Mutex<HashSet<(Partition, String)>>,
}

struct Shared {
    /// The arming: its number, and whether the worker still waits (it found nothing).
    armed: watch::Sender<(u64, bool)>,
    /// A reader found entries.
    found: Notify,
    /// The queue's entries read beyond what was asked for.
    extra: Arc<Mutex<VecDeque<QueueEntry>>>,
}

impl IdleWatch {
    pub(crate) fn new(backend: Backend, extra: Arc<Mutex<VecDeque<QueueEntry>>>) -> Self {
        Self::for_streams(backend, extra, &MessageStream::ALL)
    }

    /// A watch whose readers block on `streams` only.
    pub(crate) fn for_streams(
        backend: Backend,
        extra: Arc<Mutex<VecDeque<QueueEntry>>>,
        streams: &'static [MessageStream],
    ) -> Self {
        let (armed, _) = watch::channel((0, false));
        Self {
            backend,
            streams,
            start: AtomicUsize::new(0),
            shared: Arc::new(Shared {
                armed,
                found: Notify::new(),
                extra,
            }),
            readers: Mutex::new(HashSet::new()),
        }
    }

    pub(crate) fn backend(&self) -> &Backend {
        &self.backend
    }

    /// The partition a scan starts at, rotating so none is always last.
    pub(crate) fn next_start(&self, partitions: usize) -> usize {
        self.start.fetch_add(1, Ordering::Relaxed) % partitions.max(1)
    }

    /// Blocks every partition's reader until one finds mail or `block` passes; the
    /// mail is then in the queue's `extra` entries.
    pub(crate) async fn wait(&self, partitions: &[Partition], consumer: &str, block: Duration) {
        self.start_readers(partitions, consumer);
        let found = self.shared.found.notified();
        tokio::pin!(found);
        found.as_mut().enable();
        // Only entries of this watch's streams end the wait: another watch's bulk
        // entries waiting their turn are nothing for a transactional reader.
        let has_extra = || {
            self.shared
                .extra
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .iter()
                .any(|e| self.streams.contains(&e.stream))
        };
        if !has_extra() {
            self.shared.armed.send_modify(|(arming, armed)| {
                *arming += 1;
                *armed = true;
            });
            let _ = tokio::time::timeout(block, found).await;
            self.shared.armed.send_modify(|(_, armed)| *armed = false);
        }
    }

    fn start_readers(&self, partitions: &[Partition], consumer: &str) {
        let mut readers = self
            .readers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for p in partitions {
            let key = (*p, consumer.to_string());
            if !readers.insert(key) {
                continue;
            }
            let shared = Arc::downgrade(&self.shared);
            let armed = self.shared.armed.subscribe();
            tokio::spawn(read_when_armed(
                self.backend.clone(),
                self.streams,
                *p,
                consumer.to_string(),
                shared,
                armed,
            ));
        }
    }
}

/// One partition's reader: one blocking read of its streams per arming; stops when
/// the queue is gone.
async fn read_when_armed(
    backend: Backend,
    streams: &'static [MessageStream],
    p: Partition,
    consumer: String,
    shared: Weak<Shared>,
    mut armed: watch::Receiver<(u64, bool)>,
) {
    let mut conn = None;
    let mut last = 0;
    loop {
        loop {
            let (arming, waiting) = *armed.borrow_and_update();
            if waiting && arming > last {
                last = arming;
                break;
            }
            if armed.changed().await.is_err() {
                return;
            }
        }
        if conn.is_none() {
            match backend.connect(MAX_BLOCK + Duration::from_secs(10)).await {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    tracing::debug!(partition = %p, error = %e, "idle reader could not connect");
                    tokio::time::sleep(READ_BLOCK).await;
                    continue;
                }
            }
        }
        let Some(reader) = &conn else { continue };
        let read = read_entries(reader, p, &consumer, 1, streams, Some(READ_BLOCK)).await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        match read {
            Ok(entries) if !entries.is_empty() => {
                shared
                    .extra
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .extend(entries);
                shared.found.notify_waiters();
            }
            Ok(_) => {}
            Err(e) => {
                // The group may not exist yet (a partition nobody has served): the
                // worker's error path creates it; meanwhile do not spin.
                tracing::debug!(partition = %p, error = %e, "idle read failed");
                tokio::time::sleep(READ_BLOCK).await;
            }
        }
    }
}
