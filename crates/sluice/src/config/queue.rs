//! `[queue]` (`SLUICE_QUEUE_<KEY>`): how the queue is laid out in Redis.

use anyhow::bail;
use serde::{Deserialize, Serialize};
use sluice_store::MAX_PARTITIONS;

use super::Config;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// Queue partitions (1 to 1024): each is one hash slot's streams, delayed set,
    /// fair queue, message records and event stream, so a Redis Cluster spreads the
    /// queue over its masters. 1 suits a single Redis; a cluster wants several per
    /// master (e.g. 16 for 3 to 8 masters). Every process should use the same count;
    /// changing it loses nothing (the old partitions are drained).
    pub partitions: u16,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self { partitions: 1 }
    }
}

impl Config {
    pub(super) fn validate_queue(&self) -> anyhow::Result<()> {
        if self.queue.partitions == 0 || self.queue.partitions > MAX_PARTITIONS {
            bail!(
                "invalid configuration: `queue.partitions` (SLUICE_QUEUE_PARTITIONS) must be 1 to {MAX_PARTITIONS}, got {}",
                self.queue.partitions
            );
        }
        Ok(())
    }
}
