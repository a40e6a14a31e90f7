//! Waiting for replicas before a 202 (`durability.mode = replicas`).
//!
//! `WAIT` counts the writes of the connection it is sent on, and blocks that
//! connection until the replicas answer or the timeout passes. On the shared
//! multiplexed connection it would hold every other request behind it (for the whole
//! timeout when a replica is down), so accepts in this mode run on a small pool of
//! their own connections: the accept script and its `WAIT` on one of them, one accept
//! at a time per connection.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use redis::aio::ConnectionManager;
use tokio::sync::{Mutex, MutexGuard};

use crate::StoreError;
use crate::server_check::ReplicaAck;

/// Accepts waiting for replicas at the same time, per process.
const POOL: usize = 16;

pub(crate) struct ReplicaWaiter {
    ack: ReplicaAck,
    conns: Vec<Mutex<ConnectionManager>>,
    next: AtomicUsize,
}

impl ReplicaWaiter {
    pub(crate) async fn connect(
        client: &redis::Client,
        ack: ReplicaAck,
    ) -> Result<Self, StoreError> {
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(5)))
            // WAIT itself may take the whole replica timeout.
            .set_response_timeout(Some(ack.timeout + Duration::from_secs(10)));
        let mut conns = Vec::with_capacity(POOL);
        for _ in 0..POOL {
            let conn = ConnectionManager::new_with_config(client.clone(), config.clone()).await?;
            conns.push(Mutex::new(conn));
        }
        Ok(Self {
            ack,
            conns,
            next: AtomicUsize::new(0),
        })
    }

    /// A connection of the pool for one accept: a free one if any, else the next in turn.
    pub(crate) async fn lease(&self) -> MutexGuard<'_, ConnectionManager> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        for offset in 0..self.conns.len() {
            if let Ok(guard) = self.conns[(start + offset) % self.conns.len()].try_lock() {
                return guard;
            }
        }
        self.conns[start % self.conns.len()].lock().await
    }

    /// Waits until the configured replicas have every write made so far on `conn`.
    pub(crate) async fn confirm(&self, conn: &mut ConnectionManager) -> Result<(), StoreError> {
        let timeout_ms = self.ack.timeout.as_millis().max(1) as u64;
        let acknowledged = if self.ack.fsynced {
            let local = u32::from(self.ack.local_aof);
            let (local_done, replicas): (u32, u32) = redis::cmd("WAITAOF")
                .arg(local)
                .arg(self.ack.replicas)
                .arg(timeout_ms)
                .query_async(conn)
                .await?;
            if local_done < local { 0 } else { replicas }
        } else {
            redis::cmd("WAIT")
                .arg(self.ack.replicas)
                .arg(timeout_ms)
                .query_async(conn)
                .await?
        };
        if acknowledged < self.ack.replicas {
            tracing::warn!(
                acknowledged,
                required = self.ack.replicas,
                "accepted mail was not acknowledged by enough replicas in time"
            );
            return Err(StoreError::NotReplicated {
                acknowledged,
                required: self.ack.replicas,
                timeout: self.ack.timeout,
            });
        }
        Ok(())
    }
}
