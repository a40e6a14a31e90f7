//! `sluice_delivery_targets_suspended`: how many (source IP × provider) targets this
//! process found suspended (after repeated throttling, or paused by an operator) the
//! last time it wanted to send through them, and whose suspension has not run out.
//!
//! The count comes from what the shaper reads anyway before each send, not from
//! Redis: suspended targets are keyed by target (one hash slot each, so no index can
//! list them without a SCAN), and an unknown destination is a provider of its own, so
//! the set of targets is not known in advance. Each process therefore reports the
//! targets it has tried; across processes take `max()`. A suspension lifted or run out
//! leaves the count when that target is next tried or at the next [`PRUNE_INTERVAL`].
//! Blocklist listings are counted apart (`sluice_dnsbl_listed`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

/// How often expired suspensions leave the count without traffic to the target.
pub const PRUNE_INTERVAL: Duration = Duration::from_secs(15);

#[derive(Debug, Default)]
pub struct SuspendedTargets {
    /// Target → when its suspension ends.
    until: Mutex<HashMap<String, OffsetDateTime>>,
}

impl SuspendedTargets {
    /// Records what the shaper just read about `target`, and updates the gauge.
    pub fn note(&self, target: &str, suspended_until: Option<OffsetDateTime>) {
        let mut until = self.lock();
        let changed = match suspended_until {
            Some(end) => until.insert(target.to_string(), end) != Some(end),
            None => until.remove(target).is_some(),
        };
        if changed {
            Self::publish(&mut until, OffsetDateTime::now_utc());
        }
    }

    /// Drops suspensions that have run out, and updates the gauge.
    pub fn prune(&self) {
        Self::publish(&mut self.lock(), OffsetDateTime::now_utc());
    }

    /// How many targets are suspended now.
    #[cfg(test)]
    fn count(&self) -> usize {
        let now = OffsetDateTime::now_utc();
        self.lock().values().filter(|end| **end > now).count()
    }

    fn publish(until: &mut HashMap<String, OffsetDateTime>, now: OffsetDateTime) {
        until.retain(|_, end| *end > now);
        metrics::gauge!("sluice_delivery_targets_suspended").set(until.len() as f64);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, OffsetDateTime>> {
        self.until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Keeps the gauge true when no traffic tries a target whose suspension ran out.
pub async fn prune_loop(targets: Arc<SuspendedTargets>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(PRUNE_INTERVAL);
    loop {
        tokio::select! {
            _ = tick.tick() => targets.prune(),
            _ = shutdown.cancelled() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_counts_while_its_suspension_lasts() {
        let targets = SuspendedTargets::default();
        let now = OffsetDateTime::now_utc();
        targets.note("192.0.2.1|gmail", Some(now + time::Duration::minutes(5)));
        targets.note("192.0.2.2|gmail", Some(now + time::Duration::minutes(5)));
        targets.note("192.0.2.3|yahoo", None);
        assert_eq!(targets.count(), 2);
        // Lifted (resumed, or the shaper read it unsuspended): it leaves the count.
        targets.note("192.0.2.1|gmail", None);
        assert_eq!(targets.count(), 1);
    }

    #[test]
    fn a_suspension_that_ran_out_is_pruned() {
        let targets = SuspendedTargets::default();
        let now = OffsetDateTime::now_utc();
        targets.note("192.0.2.1|gmail", Some(now - time::Duration::seconds(1)));
        targets.note("192.0.2.2|gmail", Some(now + time::Duration::minutes(5)));
        targets.prune();
        assert_eq!(targets.lock().len(), 1);
        assert_eq!(targets.count(), 1);
    }
}
