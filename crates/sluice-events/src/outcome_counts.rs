//! Feeds the per-minute outcome counters behind the console's charts (see
//! `sluice_store::outcome_counts`). Best effort: a failure is logged and the fan-out
//! goes on (the events themselves are already in the feeds).

use sluice_store::{PendingEvent, Store};

pub async fn record(store: &Store, batch: &[PendingEvent]) {
    let counted: Vec<_> = batch
        .iter()
        .filter(|e| sluice_store::outcome_counts::KINDS.contains(&e.record.event.kind))
        .map(|e| {
            (
                e.tenant.clone(),
                e.record.event.kind,
                e.record.event.timestamp.unix_timestamp(),
            )
        })
        .collect();
    if counted.is_empty() {
        return;
    }
    if let Err(error) = store.count_outcomes(&counted).await {
        tracing::warn!(%error, "could not count delivery outcomes for the charts");
    }
}
