//! Who is alive, and taking over the entries of those who are not.
//!
//! Every worker process keeps a liveness key (`…:alive:<consumer>`) that expires a
//! few seconds after its last refresh. Any worker regularly looks at the consumers
//! of each queue stream: the pending entries of one whose key expired (it was
//! killed) or says `gone` (it stopped and handed them back) are claimed by the
//! looker and delivered. A slow but alive delivery is never taken: its process
//! keeps its key fresh however long the SMTP conversation lasts.
//!
//! After a Redis restart every key may have expired while the processes were cut
//! off; [`Queue::redis_uptime`] lets a worker wait until live processes had time to
//! announce themselves again before it judges anyone dead.
//!
//! A process can also lose track of an entry it still holds (the load or settle of
//! an attempt failed while Redis restarted): [`Queue::own_idle`] finds those.

use std::time::Duration;

use redis::streams::{StreamClaimReply, StreamInfoConsumersReply};
use sluice_model::MessageStream;

use crate::queue_read::to_entry;
use crate::{Partition, Queue, QueueEntry, StoreError, keys, scripts};

/// Values of the liveness key.
const ALIVE: &str = "alive";
const GONE: &str = "gone";

/// How long a `gone` marker stays (long enough for any worker to see it).
const GONE_TTL: Duration = Duration::from_secs(600);

impl Queue {
    /// Marks this process alive for `ttl`. Returns whether the key was still there (a
    /// `false` after the first call means the process was cut off long enough for
    /// others to take its entries).
    ///
    /// The key is kept in every partition (each partition's takeover checks it in
    /// the same script as its claim); this is the moment the process also records
    /// its partition count as in use (see `partitions`).
    pub async fn announce(&self, consumer: &str, ttl: Duration) -> Result<bool, StoreError> {
        let mut cmds = Vec::new();
        for p in self.partitions() {
            let mut cmd = redis::cmd("SET");
            cmd.arg(keys::liveness(p, consumer))
                .arg(ALIVE)
                .arg("PX")
                .arg(ttl.as_millis().max(1) as u64)
                .arg("GET");
            cmds.push(cmd);
        }
        let previous: Vec<Option<String>> = self.conn.clone().query_each(cmds).await?;
        self.partitions.refresh(&mut self.conn.clone()).await?;
        Ok(previous.iter().all(|p| p.as_deref() == Some(ALIVE)))
    }

    /// Marks this process stopped: whatever it still holds is taken over by the next
    /// worker that looks, without waiting for its liveness to expire.
    pub async fn retire(&self, consumer: &str) -> Result<(), StoreError> {
        let mut cmds = Vec::new();
        for p in self.partitions() {
            let mut cmd = redis::cmd("SET");
            cmd.arg(keys::liveness(p, consumer))
                .arg(GONE)
                .arg("PX")
                .arg(GONE_TTL.as_millis() as u64);
            cmds.push(cmd);
        }
        let _: Vec<()> = self.conn.clone().query_each(cmds).await?;
        Ok(())
    }

    /// Seconds since the Redis server holding partition `p` started (on a cluster, a
    /// master promoted by a failover counts from its promotion's point of view as
    /// its own start: liveness keys replicated to it are trusted).
    pub async fn redis_uptime(&self, p: Partition) -> Result<Duration, StoreError> {
        let mut cmd = redis::cmd("INFO");
        cmd.arg("server");
        let text: String = self.conn.clone().query_on(&keys::delayed(p), &cmd).await?;
        let info = crate::server_check::parse_info(&text);
        let seconds = info
            .get("uptime_in_seconds")
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| StoreError::corrupt("INFO server", "no uptime_in_seconds"))?;
        Ok(Duration::from_secs(seconds))
    }

    /// Claims for `taker` the pending entries of every other consumer that is not
    /// alive (see the module doc), up to `count` per stream; transactional first.
    ///
    /// An expired key counts as dead only once the Redis server holding the
    /// partition has been up for `settled_in` (live processes had time to announce
    /// themselves after a restart); a `gone` one always does.
    pub async fn take_over_dead(
        &self,
        taker: &str,
        ttl: Duration,
        count: usize,
        settled_in: Duration,
    ) -> Result<Vec<QueueEntry>, StoreError> {
        let mut taken = Vec::new();
        for p in self.partitions() {
            let expired_is_dead = self.redis_uptime(p).await? >= settled_in;
            taken.extend(
                self.take_over_dead_in(p, taker, ttl, count, expired_is_dead)
                    .await?,
            );
        }
        Ok(taken)
    }

    async fn take_over_dead_in(
        &self,
        p: Partition,
        taker: &str,
        ttl: Duration,
        count: usize,
        expired_is_dead: bool,
    ) -> Result<Vec<QueueEntry>, StoreError> {
        let mut taken = Vec::new();
        for stream in MessageStream::ALL {
            let key = keys::stream(p, stream);
            let consumers: StreamInfoConsumersReply = redis::cmd("XINFO")
                .arg("CONSUMERS")
                .arg(&key)
                .arg(keys::GROUP)
                .query_async(&mut self.conn.clone())
                .await?;
            for consumer in consumers.consumers {
                if consumer.name == taker
                    || (consumer.pending == 0 && (consumer.idle as u128) < ttl.as_millis())
                {
                    continue;
                }
                let reply: StreamClaimReply = scripts::TAKE_OVER
                    .key(&key)
                    .key(keys::liveness(p, &consumer.name))
                    .arg(keys::GROUP)
                    .arg(&consumer.name)
                    .arg(taker)
                    .arg(count.max(1))
                    .arg(consumer.idle)
                    .arg(ttl.as_millis() as u64)
                    .arg(if expired_is_dead { "1" } else { "0" })
                    .arg(ALIVE)
                    .invoke_async(&mut self.conn.clone())
                    .await?;
                if !reply.ids.is_empty() {
                    tracing::warn!(
                        from = %consumer.name,
                        count = reply.ids.len(),
                        %stream,
                        "took over the entries of a stopped worker"
                    );
                }
                taken.extend(reply.ids.into_iter().filter_map(|e| to_entry(p, stream, e)));
            }
        }
        Ok(taken)
    }

    /// This consumer's own entries pending for at least `min_idle`, up to `count`
    /// per stream (their idle time restarts). The caller filters out those it is
    /// still working on.
    pub async fn own_idle(
        &self,
        consumer: &str,
        min_idle: Duration,
        count: usize,
    ) -> Result<Vec<QueueEntry>, StoreError> {
        let mut found = Vec::new();
        for p in self.partitions() {
            for stream in MessageStream::ALL {
                let reply: StreamClaimReply = scripts::OWN_IDLE
                    .key(keys::stream(p, stream))
                    .arg(keys::GROUP)
                    .arg(consumer)
                    .arg(min_idle.as_millis() as u64)
                    .arg(count.max(1))
                    .invoke_async(&mut self.conn.clone())
                    .await?;
                found.extend(reply.ids.into_iter().filter_map(|e| to_entry(p, stream, e)));
            }
        }
        // Read ahead and not handed out yet: not lost.
        let extra = self
            .extra
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        found.retain(|e| !extra.contains(e));
        Ok(found)
    }
}
