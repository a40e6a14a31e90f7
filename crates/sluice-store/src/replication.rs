//! Waiting for replicas before a 202 (`durability.mode = replicas`).
//!
//! `WAIT` counts the writes of the connection it is sent on, and blocks that
//! connection until the replicas answer or the timeout passes. On the shared
//! multiplexed connection it would hold every other request behind it (for the whole
//! timeout when a replica is down), so accepts in this mode run on a small pool of
//! their own connections: the accept script and its `WAIT` on one of them, one accept
//! at a time per connection.
//!
//! On a Redis Cluster each master replicates on its own: the `WAIT` goes to every
//! master the accept wrote to (the tenant's slot and each partition used), on the
//! same pooled connection, and counts only if each has enough replicas.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Mutex, MutexGuard};

use crate::StoreError;
use crate::connection::{Backend, Conn};
use crate::server_check::ReplicaAck;

/// Accepts waiting for replicas at the same time, per process.
const POOL: usize = 16;

pub(crate) struct ReplicaWaiter {
    ack: ReplicaAck,
    conns: Vec<Mutex<Conn>>,
    next: AtomicUsize,
}

impl ReplicaWaiter {
    pub(crate) async fn connect(backend: &Backend, ack: ReplicaAck) -> Result<Self, StoreError> {
        let mut conns = Vec::with_capacity(POOL);
        for _ in 0..POOL {
            // WAIT itself may take the whole replica timeout.
            let conn = backend
                .connect(ack.timeout + Duration::from_secs(10))
                .await?;
            conns.push(Mutex::new(conn));
        }
        Ok(Self {
            ack,
            conns,
            next: AtomicUsize::new(0),
        })
    }

    /// A connection of the pool for one accept: a free one if any, else the next in turn.
    pub(crate) async fn lease(&self) -> MutexGuard<'_, Conn> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        for offset in 0..self.conns.len() {
            if let Ok(guard) = self.conns[(start + offset) % self.conns.len()].try_lock() {
                return guard;
            }
        }
        self.conns[start % self.conns.len()].lock().await
    }

    /// Waits until the configured replicas have every write made so far on `conn`
    /// to the masters of `written` (keys; on a single server, the one server).
    pub(crate) async fn confirm(
        &self,
        conn: &mut Conn,
        written: &[String],
    ) -> Result<(), StoreError> {
        let timeout_ms = self.ack.timeout.as_millis().max(1) as u64;
        let mut nodes: Vec<&str> = Vec::new();
        if conn.is_cluster() {
            let mut slots = Vec::new();
            for key in written {
                let slot = redis::cluster_routing::Slot::for_key(key.as_bytes());
                if !slots.contains(&slot) {
                    slots.push(slot);
                    nodes.push(key);
                }
            }
        }
        if nodes.is_empty() {
            nodes.push("");
        }
        let mut acknowledged = u32::MAX;
        for key in nodes {
            let done = if self.ack.fsynced {
                let local = u32::from(self.ack.local_aof);
                let mut cmd = redis::cmd("WAITAOF");
                cmd.arg(local).arg(self.ack.replicas).arg(timeout_ms);
                let (local_done, replicas): (u32, u32) = conn.query_on(key, &cmd).await?;
                if local_done < local { 0 } else { replicas }
            } else {
                let mut cmd = redis::cmd("WAIT");
                cmd.arg(self.ack.replicas).arg(timeout_ms);
                conn.query_on(key, &cmd).await?
            };
            acknowledged = acknowledged.min(done);
        }
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
