//! Settling an attempt: the job is loaded, attempted, and its outcome recorded
//! atomically with the acknowledgement. Recording is retried until Redis takes it —
//! sending the message again would be worse — and is never cut short by the drain
//! timeout (see the module doc of [`super`]).

use std::time::Duration;

use sluice_store::{Loaded, QueueEntry, Settlement, StoreError};
use time::OffsetDateTime;

use super::outcome::settle_attempt;
use super::{Worker, recovery, sandbox};

impl Worker {
    pub(super) async fn deliver(&self, entry: &QueueEntry) -> Result<(), StoreError> {
        let queue = &self.inner.queue;
        let job = match queue.load(entry).await {
            Ok(Loaded::Job(job)) => job,
            Ok(Loaded::Finished) => return queue.discard(entry).await,
            Ok(Loaded::Missing) => {
                return self
                    .dead_letter(entry, "the message record is missing (expired or deleted)")
                    .await;
            }
            // A record this version cannot read would otherwise be retried forever.
            Err(StoreError::Corrupt { key, reason }) => {
                tracing::error!(%key, %reason, "unreadable message record");
                return self
                    .dead_letter(entry, &format!("unreadable message record: {reason}"))
                    .await;
            }
            Err(e) => return Err(e),
        };
        let result = self.attempt_unsuppressed(&job).await;
        let now = OffsetDateTime::now_utc();
        let mut settlement = settle_attempt(&job, &result, &self.inner.config.retry, now);
        if job.test {
            sandbox::mark(&result, &mut settlement, now);
        }
        // Spawned so that aborting this attempt at the drain timeout never cuts the
        // recording of a finished SMTP transaction (which would send it twice).
        let settle = {
            let (worker, entry, settlement) = (self.clone(), entry.clone(), settlement.clone());
            self.inner
                .settling
                .spawn(async move { worker.settle_until_recorded(&entry, &settlement).await })
        };
        match settle.await {
            Ok(result) => result?,
            Err(e) => {
                tracing::error!(error = %e, "a settle task failed");
                return Ok(());
            }
        }
        for name in &settlement.waitlists {
            self.inner.waitlists.parked(name);
            if self
                .inner
                .dispatcher
                .shaper
                .has_free_connection(name, entry.stream)
            {
                self.inner.waitlists.wake(name);
            }
        }
        // Simulated outcomes are not deliveries: the outcome counts stay about real mail.
        for event in settlement.events.iter().filter(|e| !e.test) {
            let name = serde_json::to_value(event.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string));
            metrics::counter!(
                "sluice_recipient_outcomes_total",
                "event" => name.unwrap_or_default(),
                "stream" => entry.stream.as_str()
            )
            .increment(1);
        }
        tracing::debug!(message = %entry.message_id, status = settlement.status.as_str(), attempts = settlement.attempts, "delivery attempt settled");
        Ok(())
    }

    /// Waits for settle calls still running (bounded: Redis may be gone).
    pub(super) async fn finish_settling(&self) {
        let settling = &self.inner.settling;
        settling.close();
        if tokio::time::timeout(recovery::SETTLE_GRACE, settling.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                left = settling.len(),
                "settle calls still failing at shutdown; those messages are retried by another worker"
            );
            self.inner.stop_settling.cancel();
            settling.wait().await;
        }
    }

    /// Records an attempt's outcome, retrying (with backoff) until Redis takes it:
    /// the SMTP side is done, and giving up would mean sending the message again.
    /// Gives up only when shutdown stops waiting.
    async fn settle_until_recorded(
        &self,
        entry: &QueueEntry,
        settlement: &Settlement,
    ) -> Result<(), StoreError> {
        let mut delay = Duration::from_millis(100);
        let mut failures = 0u32;
        loop {
            match self.inner.queue.settle(entry, settlement).await {
                Ok(()) => {
                    if failures > 0 {
                        tracing::info!(message = %entry.message_id, failures, "delivery attempt recorded after retries");
                    }
                    return Ok(());
                }
                Err(e) => {
                    failures += 1;
                    metrics::counter!("sluice_settle_retries_total").increment(1);
                    tracing::warn!(message = %entry.message_id, error = %e, failures, "recording a delivery attempt failed; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = self.inner.stop_settling.cancelled() => return Err(e),
                    }
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    /// Acknowledges an entry that can never be delivered, loudly: an error log, a
    /// metric and the lost-entries stream name it.
    async fn dead_letter(&self, entry: &QueueEntry, reason: &str) -> Result<(), StoreError> {
        tracing::error!(message = %entry.message_id, stream = %entry.stream, entry = %entry.entry_id, %reason, "queue entry cannot be delivered; recorded as lost");
        metrics::counter!("sluice_queue_entries_lost_total", "stream" => entry.stream.as_str())
            .increment(1);
        self.inner.queue.dead_letter(entry, reason).await
    }
}
