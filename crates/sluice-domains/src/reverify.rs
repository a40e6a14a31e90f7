//! The periodic re-verification of every domain. Any number of processes run it:
//! each claims due domains from the shared schedule with a lease (see
//! `sluice_store::domains::checks`), so one domain is checked by one process at a time.

use std::time::Duration;

use sluice_store::Store;
use time::OffsetDateTime;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::DomainVerifier;

/// Domains claimed (and checked concurrently) per round.
const BATCH: usize = 16;

/// How long a claimed domain is left to its claimer: far more than a check takes
/// (a few DNS lookups in parallel, each bounded by the resolver's timeout), so it
/// expires only when the claimer died.
const LEASE: Duration = Duration::from_secs(300);

pub struct Reverifier {
    verifier: DomainVerifier,
    store: Store,
}

impl Reverifier {
    pub fn new(verifier: DomainVerifier, store: Store) -> Self {
        Self { verifier, store }
    }

    /// Runs until `shutdown`; a check in progress is finished first.
    pub async fn run(self, shutdown: CancellationToken) {
        let interval = self.verifier.settings().reverify_interval;
        match self
            .store
            .backfill_domain_checks(OffsetDateTime::now_utc())
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                domains = n,
                "scheduled periodic checks for domains that had none"
            ),
            Err(e) => tracing::warn!(error = %e, "could not list domains to schedule their checks"),
        }
        let poll = (interval / 2).clamp(Duration::from_millis(100), Duration::from_secs(30));
        let mut tick = tokio::time::interval(poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tracing::info!(interval = ?interval, "periodic domain verification started");
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.cancelled() => return,
            }
            while !shutdown.is_cancelled() && self.round().await == BATCH {}
        }
    }

    /// Checks the domains due now (up to a batch); returns how many were claimed.
    async fn round(&self) -> usize {
        let now = OffsetDateTime::now_utc();
        let claimed = match self
            .store
            .claim_domain_checks(now, now + LEASE, BATCH)
            .await
        {
            Ok(claimed) => claimed,
            Err(e) => {
                tracing::warn!(error = %e, "claiming due domain checks failed");
                return 0;
            }
        };
        let count = claimed.len();
        let mut checks = JoinSet::new();
        for (tenant, name) in claimed {
            let (verifier, store) = (self.verifier.clone(), self.store.clone());
            checks.spawn(async move {
                match verifier.verify(&store, &tenant, &name).await {
                    Ok(Some(_)) => {}
                    Ok(None) => {
                        if let Err(e) = store.unschedule_domain_check(&tenant, &name).await {
                            tracing::debug!(error = %e, "unscheduling a removed domain failed");
                        }
                    }
                    // The lease runs out and the domain is checked again then.
                    Err(e) => {
                        tracing::warn!(%tenant, domain = %name, error = %e, "periodic domain check failed")
                    }
                }
            });
        }
        while let Some(joined) = checks.join_next().await {
            if let Err(e) = joined {
                tracing::error!(error = %e, "a domain check panicked");
            }
        }
        count
    }
}
