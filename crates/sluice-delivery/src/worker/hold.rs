//! Holding bulk mail while its tenant's bulk stream is paused by the reputation guard
//! (see `sluice_store::reputation`): the message is not attempted, no attempt is
//! counted and no event written; it goes back to the delayed set for the hold
//! interval, and is noted in its partition's held set so that resuming the tenant
//! makes it due at once. Nothing is dropped: a hold never reaches the maximum queue
//! age's bounce (see [`RecipientOutcome::Held`]).

use sluice_store::DeliveryJob;

use super::Worker;
use super::outcome::{AttemptResult, RecipientOutcome};

impl Worker {
    pub(super) async fn hold_for_reputation(&self, job: &DeliveryJob) -> AttemptResult {
        metrics::counter!("sluice_bulk_held_total").increment(1);
        // Noted first: a resume between this and the settle finds nothing in the
        // delayed set to move and the message waits one hold interval, no more.
        if let Err(e) = self
            .inner
            .store
            .hold_bulk(job.entry.partition, &job.tenant, &job.entry.message_id)
            .await
        {
            tracing::warn!(message = %job.entry.message_id, error = %e, "could not note a held message; it is rechecked after the hold interval");
        }
        tracing::debug!(message = %job.entry.message_id, tenant = %job.tenant, "bulk held: the tenant's bulk stream is paused");
        AttemptResult::everyone(RecipientOutcome::Held(self.inner.config.reputation_hold))
    }
}
