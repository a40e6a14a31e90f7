//! Keeping mail moving when processes die or Redis restarts.
//!
//! - **Liveness**: this process refreshes its liveness key four times per
//!   `liveness_ttl`; the key outliving the process by at most one period is what
//!   bounds a takeover (default 8 s + one scan ≈ 10 s after a SIGKILL).
//! - **Takeover**: every scan, the pending entries of consumers whose key expired or
//!   says `gone` are claimed and delivered here (see `sluice_store::takeover`). After
//!   a Redis restart every key may have lapsed while the processes were cut off, so
//!   an expired key counts as dead only once Redis has been up for a whole period
//!   plus a refresh (a `gone` one always does).
//! - **Lost track**: entries pending on this consumer for a few seconds that it is
//!   not working on (an attempt whose load failed while Redis was away) are retried
//!   at once; nothing waits for a timeout that a live process would never reach.

use std::time::Duration;

use sluice_store::QueueEntry;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::Worker;

/// The default liveness period: short enough that a killed process's mail moves on
/// within seconds, long enough that a stalled refresh or two are not a death.
pub const DEFAULT_LIVENESS_TTL: Duration = Duration::from_secs(8);

/// How long shutdown waits for settle calls that keep failing (Redis unreachable).
pub const SETTLE_GRACE: Duration = Duration::from_secs(10);

/// Entries found by recovery waiting for a free delivery slot.
pub const FOUND_CAPACITY: usize = 1024;

/// An own entry idle this long and not in the `owned` set is considered lost track
/// of. Entries are owned the moment Redis hands them over, so this only has to be
/// longer than that instant; a few seconds keep the scan cheap.
const LOST_TRACK_IDLE: Duration = Duration::from_secs(3);

/// How often the takeover and lost-track scans run.
const SCAN_EVERY: Duration = Duration::from_secs(2);

impl Worker {
    /// Refreshes this process's liveness key until `stop` (after the drain: the final
    /// `gone` is written by `run` once deliveries have finished or been aborted).
    pub(super) async fn liveness_loop(self, stop: CancellationToken) {
        let config = &self.inner.config;
        let ttl = config.liveness_ttl;
        let mut tick = tokio::time::interval((ttl / 4).max(Duration::from_millis(50)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut announced = false;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.cancelled() => return,
            }
            match self.inner.queue.announce(&config.consumer, ttl).await {
                Ok(was_alive) => {
                    if announced && !was_alive {
                        tracing::warn!(consumer = %config.consumer, "this worker's liveness lapsed (Redis unreachable or restarted); other workers may have taken over some of its deliveries");
                    }
                    announced = true;
                }
                Err(e) => tracing::warn!(error = %e, "refreshing this worker's liveness failed"),
            }
        }
    }

    /// Takes over stopped processes' entries and retries the ones this process lost
    /// track of, handing them to the delivery loop through `found`.
    pub(super) async fn recovery_loop(
        self,
        found: mpsc::Sender<QueueEntry>,
        shutdown: CancellationToken,
    ) {
        let mut tick = tokio::time::interval(SCAN_EVERY.min(self.inner.config.liveness_ttl));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.cancelled() => return,
            }
            if let Err(e) = self.recover_once(&found).await {
                tracing::warn!(error = %e, "looking for stranded entries failed");
            }
        }
    }

    async fn recover_once(
        &self,
        found: &mpsc::Sender<QueueEntry>,
    ) -> Result<(), sluice_store::StoreError> {
        let config = &self.inner.config;
        let queue = &self.inner.queue;
        // Two calls, each claiming up to `per_stream` from each of the two streams:
        // never more than the channel has room for.
        let per_stream = found.capacity() / 4;
        if per_stream == 0 {
            return Ok(());
        }
        let settled_in = config.liveness_ttl + config.liveness_ttl / 4;
        let taken = queue
            .take_over_dead(
                &config.consumer,
                config.liveness_ttl,
                per_stream,
                settled_in,
            )
            .await?;
        let lost = queue
            .own_idle(&config.consumer, LOST_TRACK_IDLE, per_stream)
            .await?;
        let mut entries: Vec<QueueEntry> = taken.into_iter().filter(|e| self.own(e)).collect();
        let taken_count = entries.len();
        // Own idle entries that are still owned are being worked on: not lost.
        entries.extend(lost.into_iter().filter(|e| self.own(e)));
        let lost_count = (entries.len() - taken_count) as u64;
        if lost_count > 0 {
            metrics::counter!("sluice_entries_retried_after_loss_total").increment(lost_count);
            tracing::warn!(
                count = lost_count,
                "retrying entries whose attempt did not finish"
            );
        }
        for entry in entries {
            // The claims fit the free capacity and this loop is the only sender.
            if let Err(e) = found.try_send(entry) {
                let (mpsc::error::TrySendError::Full(entry)
                | mpsc::error::TrySendError::Closed(entry)) = e;
                // Still pending here: the next scan finds it again.
                self.disown(&entry);
            }
        }
        Ok(())
    }
}
