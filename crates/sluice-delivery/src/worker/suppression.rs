//! The suppression check before each attempt: recipients on the tenant's suppression
//! list are settled as `suppressed` and never sent to; the others go out as usual.

use sluice_model::RecipientStatus;
use sluice_store::DeliveryJob;

use super::Worker;
use super::outcome::{AttemptResult, RecipientOutcome};

impl Worker {
    /// [`Worker::attempt`] for the recipients not on the suppression list. The list
    /// is read once per attempt, in the same round trip as the sending domain's
    /// version (which the DKIM key cache needs), so an address suppressed while its
    /// message waited for a retry is honoured too. When the list cannot be read the
    /// whole attempt is deferred: sending to a possibly suppressed address is worse
    /// than sending late.
    pub(super) async fn attempt_unsuppressed(&self, job: &DeliveryJob) -> AttemptResult {
        let pending: Vec<&str> = job
            .recipients
            .iter()
            .filter(|r| !r.status.is_final())
            .map(|r| r.address.as_str())
            .collect();
        if pending.is_empty() {
            return AttemptResult::replies(Vec::new());
        }
        let domain = job.message.from.address.domain();
        let checks = match self
            .inner
            .store
            .attempt_checks(&job.tenant, &pending, domain, job.entry.stream)
            .await
        {
            Ok(checks) => checks,
            Err(e) => {
                tracing::warn!(message = %job.entry.message_id, error = %e, "could not check the suppression list; trying again in a few seconds");
                return AttemptResult::unavailable(format!("checking the suppression list: {e}"));
            }
        };
        if checks.bulk_paused {
            return self.hold_for_reputation(job).await;
        }
        let (found, domain_version) = (checks.suppressed, checks.domain_version);
        if found.is_empty() {
            return self.attempt(job, domain_version).await;
        }
        // The rest of the attempt sees the suppressed recipients as finished; the
        // original job (with their real state) is what gets settled.
        let mut unsuppressed = job.clone();
        let mut suppressed = Vec::new();
        for recipient in unsuppressed
            .recipients
            .iter_mut()
            .filter(|r| !r.status.is_final())
        {
            if let Some(entry) = found.get(&recipient.address.to_lowercase()) {
                recipient.status = RecipientStatus::Suppressed;
                suppressed.push((recipient.address.clone(), entry.reason));
            }
        }
        let mut result = self.attempt(&unsuppressed, domain_version).await;
        for (address, reason) in suppressed {
            result.record(&[address], &RecipientOutcome::Suppressed(reason));
        }
        result
    }
}
