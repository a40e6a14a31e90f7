//! Queue partitions: how the queue is spread over hash slots, so a Redis Cluster
//! spreads it over its masters.
//!
//! Partition `p` is every key tagged `{sluice:q<p>}`: its two streams, delayed set,
//! fair queue, wait lists, message records and event stream. A message lives in
//! one partition for life, the one its id hashes to ([`partition_of`]) among the
//! partition count of the process that accepted it (`queue.partitions`).
//!
//! **Changing the count** loses nothing: every process records the count it runs
//! with in `sluice:v1:queue:partitions` (count → last seen), and
//! - workers serve every partition below the largest count seen within the
//!   retention period, so the partitions a smaller count no longer uses are
//!   drained;
//! - a message is looked for under its id's partition for this process's count
//!   first, then under each other count seen (only a miss costs a second look).
//!
//! A count unseen for longer than the retention period is forgotten: by then
//! every record written under it has expired. Every process looks at the counts
//! again every 30 seconds (workers with each liveness refresh).

use std::sync::{Arc, RwLock};
use std::time::Duration;

use sluice_model::MessageId;

use crate::connection::Conn;
pub use crate::keys::{MAX_PARTITIONS, Partition};
use crate::{StoreError, keys, now_ms};

/// The partition of message `id` among `count` partitions: FNV-1a of the id, so
/// every process and version agrees. With one partition, always partition 0.
pub fn partition_of(id: &MessageId, count: u16) -> Partition {
    partition_of_text(id.as_str(), count)
}

/// The partition `text` hashes to (FNV-1a) among `count`.
pub(crate) fn partition_of_text(text: &str, count: u16) -> Partition {
    if count <= 1 {
        return Partition(0);
    }
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    Partition((hash % u64::from(count)) as u16)
}

/// This process's partition count and the others seen (see the module doc).
#[derive(Debug)]
pub(crate) struct Partitions {
    count: u16,
    /// Every count seen within the retention period, this one's included; sorted.
    known: RwLock<Vec<u16>>,
    retention: Duration,
}

impl Partitions {
    pub(crate) fn new(count: u16, retention: Duration) -> Arc<Self> {
        let count = count.clamp(1, MAX_PARTITIONS);
        Arc::new(Self {
            count,
            known: RwLock::new(vec![count]),
            retention,
        })
    }

    pub(crate) fn count(&self) -> u16 {
        self.count
    }

    fn known(&self) -> Vec<u16> {
        self.known
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Each partition's share of [`crate::FAIR_BACKLOG`] (at least 16): the unread
    /// bulk a partition takes straight into its stream before it queues fairly.
    pub(crate) fn fair_backlog(&self) -> u32 {
        (crate::FAIR_BACKLOG / u32::from(self.count)).max(16)
    }

    /// Where a new message with this id goes.
    pub(crate) fn of(&self, id: &MessageId) -> Partition {
        partition_of(id, self.count)
    }

    /// Where a message with this id may be: this process's choice first.
    pub(crate) fn candidates(&self, id: &MessageId) -> Vec<Partition> {
        let mut out = vec![self.of(id)];
        for count in self.known() {
            let p = partition_of(id, count);
            if !out.contains(&p) {
                out.push(p);
            }
        }
        out
    }

    /// Every partition that may hold queued mail: what workers serve.
    pub(crate) fn served(&self) -> Vec<Partition> {
        let most = self.known().into_iter().max().unwrap_or(1).max(self.count);
        (0..most).map(Partition).collect()
    }

    /// Records this process's count as seen now and reloads the others'.
    pub(crate) async fn refresh(&self, conn: &mut Conn) -> Result<(), StoreError> {
        let now = now_ms();
        let oldest = now - self.retention.as_millis() as i64;
        let (seen,): (Vec<String>,) = redis::pipe()
            .cmd("ZADD")
            .arg(keys::PARTITION_COUNTS)
            .arg(now)
            .arg(self.count)
            .ignore()
            .cmd("ZREMRANGEBYSCORE")
            .arg(keys::PARTITION_COUNTS)
            .arg("-inf")
            .arg(format!("({oldest}"))
            .ignore()
            .cmd("ZRANGE")
            .arg(keys::PARTITION_COUNTS)
            .arg(0)
            .arg(-1)
            .query_async(conn)
            .await?;
        let mut known: Vec<u16> = seen
            .iter()
            .filter_map(|c| c.parse::<u16>().ok())
            .filter(|c| (1..=MAX_PARTITIONS).contains(c))
            .collect();
        known.push(self.count);
        known.sort_unstable();
        known.dedup();
        *self
            .known
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = known;
        Ok(())
    }
}

/// How often a process looks again at the counts in use (a process started with
/// another count is known everywhere within this).
pub(crate) const REFRESH_EVERY: Duration = Duration::from_secs(30);

/// Refreshes `partitions` every [`REFRESH_EVERY`] until the store is dropped.
pub(crate) fn spawn_refresh(partitions: &Arc<Partitions>, conn: Conn) {
    let weak = Arc::downgrade(partitions);
    tokio::spawn(async move {
        let mut conn = conn;
        loop {
            tokio::time::sleep(REFRESH_EVERY).await;
            let Some(partitions) = weak.upgrade() else {
                return;
            };
            if let Err(e) = partitions.refresh(&mut conn).await {
                tracing::debug!(error = %e, "refreshing the queue partition counts failed");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_partition_is_partition_zero() {
        let id = MessageId::generate();
        assert_eq!(partition_of(&id, 1), Partition(0));
        assert_eq!(partition_of(&id, 0), Partition(0));
    }

    #[test]
    fn ids_spread_over_the_partitions() {
        let mut counts = [0_u32; 16];
        for _ in 0..16_000 {
            counts[partition_of(&MessageId::generate(), 16).0 as usize] += 1;
        }
        // About 1,000 each; a skew of a third would mean a bad hash.
        assert!(counts.iter().all(|c| (666..1334).contains(c)), "{counts:?}");
    }

    #[test]
    fn the_partition_of_an_id_never_changes() {
        // Pinned: a change of hash would strand every queued message.
        let id = MessageId::parse("msg_01jd4k5q8z6y2x1w0v9t8s7r6p").unwrap_or_else(|_| {
            unreachable!("a valid id");
        });
        // FNV-1a 64 of the id's text, modulo the count.
        assert_eq!(partition_of(&id, 16), Partition(13));
        assert_eq!(partition_of(&id, 1024), Partition(237));
        assert_eq!(partition_of(&id, 3), Partition(1));
    }

    #[test]
    fn candidates_try_this_count_first_then_the_others() {
        let partitions = Partitions::new(16, Duration::from_secs(60));
        *partitions.known.write().unwrap_or_else(|e| e.into_inner()) = vec![1, 16];
        let id = MessageId::generate();
        let candidates = partitions.candidates(&id);
        assert_eq!(candidates[0], partition_of(&id, 16));
        assert!(candidates.contains(&Partition(0)));
        assert_eq!(partitions.served().len(), 16);
    }
}
