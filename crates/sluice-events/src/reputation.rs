//! The tenant reputation guard's side of the fan-out: every delivered, hard-bounced
//! and complained recipient is counted per tenant and stream in the rolling window
//! (see `sluice_model::reputation` for the arithmetic), and each crossing of a
//! threshold is announced once:
//!
//! - a stream reaching the review level (or, for transactional mail, the pause
//!   level): `tenant.reputation_warning`;
//! - the bulk stream reaching the pause level: `tenant.paused`, and the bulk stream
//!   stays paused (the API refuses bulk sends with a 429, workers hold queued bulk)
//!   until an operator resumes it. Transactional mail is never paused.
//!
//! A stream whose rates fall back below an announced level is re-armed (silently), so
//! the next crossing is announced again.
//!
//! **Counting is exactly-once per event**, although the fan-out is at-least-once: a
//! batch read again after a crash carries the feed ids its first copy was given, and
//! the count script skips ids at or below the newest it counted from that partition
//! (see `reputation_count.lua`). So a redelivered batch can never push a tenant over
//! a threshold. Counts go to the bucket of the moment they are counted, not of the
//! event (a backlog after an outage lands in the current bucket).

use std::collections::BTreeMap;

use sluice_model::{
    BounceType, BulkPause, EventRecord, EventType, MessageEvent, MessageId, MessageStream,
    ReputationEventData, ReputationLevel, ReputationPolicy, TenantId,
};
use sluice_store::{
    BucketWindow, CountKind, Countable, Partition, PendingEvent, ReputationChange,
    ReputationSnapshot, Store, StoreError,
};
use time::OffsetDateTime;

/// What an event adds to its tenant's counts, if anything.
pub fn count_kind(record: &EventRecord) -> Option<CountKind> {
    // Sandbox (test-key) mail was never sent: it says nothing about the tenant's lists.
    if record.event.test {
        return None;
    }
    match record.event.kind {
        EventType::Delivered => Some(CountKind::Delivered),
        EventType::Bounced
            if record
                .event
                .bounce
                .is_some_and(|b| b.kind == BounceType::Hard) =>
        {
            Some(CountKind::HardBounced)
        }
        EventType::Complained => Some(CountKind::Complained),
        _ => None,
    }
}

/// Counts a fanned-out batch of `partition` (its events already carry their feed
/// ids) and announces the crossings it causes. Safe to repeat for the same batch.
pub async fn count_batch(
    store: &Store,
    policy: &ReputationPolicy,
    partition: Partition,
    batch: &[PendingEvent],
) -> Result<(), StoreError> {
    let counted: Vec<(&PendingEvent, CountKind, &MessageId)> = batch
        .iter()
        .filter_map(|e| Some((e, count_kind(&e.record)?, e.record.message_id.as_ref()?)))
        .collect();
    if counted.is_empty() {
        return Ok(());
    }
    let ids: Vec<&MessageId> = counted.iter().map(|(_, _, id)| *id).collect();
    let streams = store.message_streams(partition, &ids).await?;
    let mut per_tenant: BTreeMap<&TenantId, Vec<Countable>> = BTreeMap::new();
    for ((event, kind, _), stream) in counted.iter().zip(streams) {
        // A record gone past retention: its stream is unknown, so it is not counted.
        let Some(stream) = stream else { continue };
        // An id that is not a feed entry id marks a copy made long ago whose feed
        // entry is gone (see `EventStream::publish_all`): counted back then.
        let Some(feed_entry) = event
            .record
            .id
            .strip_prefix("evt_")
            .filter(|id| is_entry_id(id))
        else {
            continue;
        };
        per_tenant
            .entry(&event.tenant)
            .or_default()
            .push(Countable {
                feed_entry: feed_entry.to_string(),
                stream,
                kind: *kind,
            });
    }
    let now = sluice_model::time::now_ms();
    for (tenant, events) in per_tenant {
        let snapshot = store
            .count_reputation(
                tenant,
                Some(partition),
                &events,
                BucketWindow::of(policy, now),
            )
            .await?;
        judge(store, policy, tenant, &snapshot).await?;
    }
    Ok(())
}

/// `<ms>-<seq>`, as Redis stream entry ids are written.
fn is_entry_id(id: &str) -> bool {
    id.split_once('-').is_some_and(|(ms, seq)| {
        !ms.is_empty()
            && !seq.is_empty()
            && ms.bytes().all(|b| b.is_ascii_digit())
            && seq.bytes().all(|b| b.is_ascii_digit())
    })
}

/// Applies the changes `snapshot` calls for, then sends what the outbox holds.
pub async fn judge(
    store: &Store,
    policy: &ReputationPolicy,
    tenant: &TenantId,
    snapshot: &ReputationSnapshot,
) -> Result<(), StoreError> {
    let mut outbox = snapshot.outbox;
    for change in changes(policy, snapshot, OffsetDateTime::now_utc()) {
        let announced = change.event.is_some();
        if store.change_reputation(tenant, &change).await? && announced {
            outbox += 1;
            if change.pause.is_some() {
                metrics::counter!("sluice_tenant_bulk_paused_total").increment(1);
                tracing::warn!(%tenant, "bulk stream paused by the reputation guard");
            } else {
                tracing::info!(%tenant, stream = %change.stream, level = change.to.as_str(), "reputation warning");
            }
        }
    }
    if outbox > 0 {
        store.flush_reputation_outbox(tenant).await?;
    }
    Ok(())
}

/// What the counts call for, per stream (pure: see the module doc for the rules).
pub fn changes(
    policy: &ReputationPolicy,
    snapshot: &ReputationSnapshot,
    now: OffsetDateTime,
) -> Vec<ReputationChange> {
    let mut out = Vec::new();
    for stream in MessageStream::ALL {
        let counts = snapshot.counts.get(&stream).copied().unwrap_or_default();
        let assessed = policy.assess(&counts);
        let announced = snapshot
            .levels
            .get(&stream)
            .copied()
            .flatten()
            .unwrap_or_default();
        if assessed == announced {
            continue;
        }
        let from_raw = snapshot
            .raw_levels
            .get(&stream)
            .cloned()
            .unwrap_or_default();
        let figures = policy.report(stream, &counts);
        let mut change = ReputationChange {
            stream,
            from_raw,
            to: assessed,
            pause: None,
            event: None,
        };
        if assessed > announced {
            let pausing = stream == MessageStream::Bulk
                && assessed == ReputationLevel::Pause
                && snapshot.bulk_paused.is_none();
            let thresholds = match assessed {
                ReputationLevel::Pause => policy.pause,
                _ => policy.review,
            };
            let (kind, detail) = if pausing {
                (
                    EventType::TenantPaused,
                    format!(
                        "bulk sending is paused: {} over the last {}, at or over the pause thresholds; queued bulk mail is held until an operator resumes it (transactional mail is not affected)",
                        figures.describe(),
                        window_text(policy)
                    ),
                )
            } else {
                let what = match (stream, assessed) {
                    (MessageStream::Transactional, ReputationLevel::Pause) => {
                        "at or over the pause thresholds (transactional mail is never paused)"
                    }
                    _ => "at or over the review thresholds",
                };
                (
                    EventType::TenantReputationWarning,
                    format!(
                        "{stream} mail: {} over the last {}, {what}",
                        figures.describe(),
                        window_text(policy)
                    ),
                )
            };
            let mut event = MessageEvent::new(kind, now).detail(detail);
            event.reputation = Some(ReputationEventData {
                figures: figures.clone(),
                thresholds: Some(thresholds),
                window_seconds: policy.window.as_secs(),
            });
            if pausing {
                change.pause = Some(BulkPause {
                    since: now,
                    figures,
                });
            }
            change.event = Some(event);
        }
        out.push(change);
    }
    out
}

fn window_text(policy: &ReputationPolicy) -> String {
    sluice_model::duration::format(policy.window)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::HashMap;
    use std::time::Duration;

    use sluice_model::{StreamCounts, Thresholds};

    use super::*;

    fn policy() -> ReputationPolicy {
        ReputationPolicy {
            window: Duration::from_secs(3600),
            min_volume: 10,
            ..ReputationPolicy::default()
        }
    }

    fn snapshot(
        bulk: (u64, u64, u64),
        transactional: (u64, u64, u64),
        levels: [Option<ReputationLevel>; 2],
        paused: bool,
    ) -> ReputationSnapshot {
        let counts = |(delivered, hard_bounced, complained)| StreamCounts {
            delivered,
            hard_bounced,
            complained,
        };
        let mut s = ReputationSnapshot {
            counts: HashMap::from([
                (MessageStream::Bulk, counts(bulk)),
                (MessageStream::Transactional, counts(transactional)),
            ]),
            ..ReputationSnapshot::default()
        };
        for (stream, level) in [MessageStream::Transactional, MessageStream::Bulk]
            .into_iter()
            .zip(levels)
        {
            s.levels.insert(stream, level);
            s.raw_levels.insert(
                stream,
                level.map(|l| l.as_str().to_string()).unwrap_or_default(),
            );
        }
        if paused {
            s.bulk_paused = Some(BulkPause {
                since: OffsetDateTime::UNIX_EPOCH,
                figures: policy().report(MessageStream::Bulk, &StreamCounts::default()),
            });
        }
        s
    }

    fn kinds(
        changes: &[ReputationChange],
    ) -> Vec<(MessageStream, ReputationLevel, Option<EventType>, bool)> {
        changes
            .iter()
            .map(|c| {
                (
                    c.stream,
                    c.to,
                    c.event.as_ref().map(|e| e.kind),
                    c.pause.is_some(),
                )
            })
            .collect()
    }

    #[test]
    fn a_crossing_is_announced_once() {
        let now = OffsetDateTime::UNIX_EPOCH;
        // 1 in 10 bulk recipients hard-bounced: 10 %, the pause level.
        let fresh = snapshot((9, 1, 0), (0, 0, 0), [None, None], false);
        let got = changes(&policy(), &fresh, now);
        assert_eq!(
            kinds(&got),
            [(
                MessageStream::Bulk,
                ReputationLevel::Pause,
                Some(EventType::TenantPaused),
                true
            )]
        );
        let event = got[0].event.as_ref().unwrap();
        let data = event.reputation.as_ref().unwrap();
        assert_eq!(data.figures.hard_bounced, 1);
        assert_eq!(data.thresholds, Some(policy().pause));
        assert!(
            event
                .detail
                .as_ref()
                .unwrap()
                .contains("hard bounces 10 % (1 of 10)")
        );
        // Once announced (and paused), the same figures announce nothing.
        let announced = snapshot(
            (9, 1, 0),
            (0, 0, 0),
            [None, Some(ReputationLevel::Pause)],
            true,
        );
        assert!(changes(&policy(), &announced, now).is_empty());
    }

    #[test]
    fn review_warns_then_pause_pauses_bulk_only() {
        let now = OffsetDateTime::UNIX_EPOCH;
        // 5 % hard bounces on both streams: a warning each.
        let review = snapshot((19, 1, 0), (19, 1, 0), [None, None], false);
        assert_eq!(
            kinds(&changes(&policy(), &review, now)),
            [
                (
                    MessageStream::Transactional,
                    ReputationLevel::Review,
                    Some(EventType::TenantReputationWarning),
                    false
                ),
                (
                    MessageStream::Bulk,
                    ReputationLevel::Review,
                    Some(EventType::TenantReputationWarning),
                    false
                ),
            ]
        );
        // Then both reach the pause level: bulk pauses, transactional is only warned.
        let levels = [Some(ReputationLevel::Review), Some(ReputationLevel::Review)];
        let pause = snapshot((18, 2, 0), (18, 2, 0), levels, false);
        assert_eq!(
            kinds(&changes(&policy(), &pause, now)),
            [
                (
                    MessageStream::Transactional,
                    ReputationLevel::Pause,
                    Some(EventType::TenantReputationWarning),
                    false
                ),
                (
                    MessageStream::Bulk,
                    ReputationLevel::Pause,
                    Some(EventType::TenantPaused),
                    true
                ),
            ]
        );
    }

    #[test]
    fn falling_back_rearms_silently_and_small_volumes_do_nothing() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let recovered = snapshot(
            (100, 1, 0),
            (0, 0, 0),
            [None, Some(ReputationLevel::Review)],
            false,
        );
        assert_eq!(
            kinds(&changes(&policy(), &recovered, now)),
            [(MessageStream::Bulk, ReputationLevel::Ok, None, false)]
        );
        // 3 of 6 bounced, but under the minimum volume of 10.
        let small = snapshot((3, 3, 0), (3, 3, 0), [None, None], false);
        assert!(changes(&policy(), &small, now).is_empty());
        // Complaints count over delivered mail: 1 of 300 is 0.33 %, the pause level.
        let strict = ReputationPolicy {
            review: Thresholds {
                hard_bounce_rate: sluice_model::Rate(0.05),
                complaint_rate: sluice_model::Rate(0.001),
            },
            ..policy()
        };
        let complaints = snapshot((300, 0, 1), (0, 0, 0), [None, None], false);
        assert_eq!(
            kinds(&changes(&strict, &complaints, now)),
            [(
                MessageStream::Bulk,
                ReputationLevel::Pause,
                Some(EventType::TenantPaused),
                true
            )]
        );
    }

    #[test]
    fn only_feed_entry_ids_are_counted() {
        assert!(is_entry_id("1795376091664-0"));
        assert!(!is_entry_id("1795376091664-0-p3"));
        assert!(!is_entry_id("-0"));
        assert!(!is_entry_id("17x-0"));
    }

    #[test]
    fn only_delivered_hard_bounced_and_complained_count() {
        let record = |event: MessageEvent| EventRecord {
            id: "evt_1-0".into(),
            message_id: Some(MessageId::generate()),
            event,
            tags: Vec::new(),
            metadata: Default::default(),
        };
        let at = OffsetDateTime::UNIX_EPOCH;
        let bounced = |kind| {
            MessageEvent::new(EventType::Bounced, at)
                .bounce(kind, sluice_model::BounceClass::BadMailbox)
        };
        assert_eq!(
            count_kind(&record(MessageEvent::new(EventType::Delivered, at))),
            Some(CountKind::Delivered)
        );
        assert_eq!(
            count_kind(&record(bounced(BounceType::Hard))),
            Some(CountKind::HardBounced)
        );
        assert_eq!(count_kind(&record(bounced(BounceType::Soft))), None);
        assert_eq!(
            count_kind(&record(MessageEvent::new(EventType::Complained, at))),
            Some(CountKind::Complained)
        );
        assert_eq!(
            count_kind(&record(MessageEvent::new(EventType::Deferred, at))),
            None
        );
        assert_eq!(
            count_kind(&record(MessageEvent::new(EventType::Accepted, at))),
            None
        );
        // A sandbox key's simulated outcomes never count.
        let mut simulated = bounced(BounceType::Hard);
        simulated.test = true;
        assert_eq!(count_kind(&record(simulated)), None);
        let mut simulated = MessageEvent::new(EventType::Complained, at);
        simulated.test = true;
        assert_eq!(count_kind(&record(simulated)), None);
    }
}
