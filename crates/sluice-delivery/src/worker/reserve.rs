//! Worker slots held back for transactional mail, so an OTP never waits for a slot
//! that bulk deliveries hold (`delivery.transactional_reserve`).
//!
//! The process's `concurrency` slots are one [`PriorityGate`]. Bulk may hold at most
//! `concurrency − reserve` of them while any transactional delivery is in flight; while
//! none is, the reserve is idle and bulk borrows half of it (rounded down). The other
//! half is never lent: a delivery cannot be taken back once started, so a reserve lent
//! in full would leave an OTP arriving during a slow campaign waiting for a bulk
//! delivery to finish (seconds against a slow destination). Once transactional mail is
//! in flight, borrowed slots return as their bulk deliveries end, and transactional
//! mail gets every freed slot before bulk does. A reserve of 0 turns all this off: bulk
//! and transactional mail share every slot, transactional still read first.
//!
//! Slots alone do not make an OTP go: while bulk holds every slot it may, the main
//! loop waits for one and reads nothing. So a second loop, the *transactional lane*,
//! takes a reserved slot and blocks on the transactional streams only
//! ([`sluice_store::TransactionalReader`]); an OTP is read the moment it is queued.
//! The main loop keeps reading both streams (transactional first) with the slots bulk
//! may use. Both loops are this process's one consumer, so whichever reads an entry
//! delivers it.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sluice_gate::{GatePermit, PriorityGate};
use sluice_model::MessageStream;
use sluice_store::QueueEntry;
use sluice_store::permits::MAX_BATCH;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::Worker;

/// The default reserve for `concurrency` slots: an eighth, at least 4, never more
/// than half (a small worker must still deliver bulk).
pub fn default_reserve(concurrency: usize) -> usize {
    (concurrency / 8).max(4).min(concurrency / 2)
}

/// The worker's slots and how much of the reserve bulk may borrow right now.
pub(super) struct Slots {
    gate: PriorityGate,
    reserve: usize,
    /// Transactional deliveries in flight: while any is, nothing is lent.
    transactional: Mutex<usize>,
}

/// A delivery's slot: its permit, and its place in the transactional count.
pub(super) struct Slot {
    _permit: GatePermit,
    _transactional: Option<InFlight>,
}

struct InFlight(Arc<Slots>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let slots = &self.0;
        let mut count = slots.lock();
        *count = count.saturating_sub(1);
        if *count == 0 {
            slots.gate.set_reserve(slots.never_lent());
        }
    }
}

impl Slots {
    pub(super) fn new(concurrency: usize, reserve: usize) -> Arc<Self> {
        let concurrency = concurrency.max(1);
        let reserve = reserve.min(concurrency - 1);
        let slots = Self {
            gate: PriorityGate::new("worker", concurrency, 0),
            reserve,
            transactional: Mutex::new(0),
        };
        slots.gate.set_reserve(slots.never_lent());
        Arc::new(slots)
    }

    /// Whether a transactional lane runs (there is a reserve to read with).
    pub(super) fn has_reserve(&self) -> bool {
        self.reserve > 0
    }

    /// The part of the reserve bulk never borrows: half, rounded up.
    fn never_lent(&self) -> usize {
        self.reserve.div_ceil(2)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, usize> {
        self.transactional
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for a slot bulk may use, then takes every other such slot free (up to
    /// [`MAX_BATCH`]): the main loop reads as many entries as it holds slots.
    pub(super) async fn take_for_reading(&self) -> Vec<GatePermit> {
        let mut held = vec![self.gate.acquire(MessageStream::Bulk).await];
        while held.len() < MAX_BATCH {
            match self.gate.try_acquire(MessageStream::Bulk) {
                Some(permit) => held.push(permit),
                None => break,
            }
        }
        held
    }

    /// Binds a permit to the delivery of an entry of `stream`.
    pub(super) fn assign(self: &Arc<Self>, permit: GatePermit, stream: MessageStream) -> Slot {
        let transactional = (stream == MessageStream::Transactional).then(|| {
            let mut count = self.lock();
            *count += 1;
            if *count == 1 {
                // Borrowed slots come back as their bulk deliveries end.
                self.gate.set_reserve(self.reserve);
            }
            InFlight(self.clone())
        });
        Slot {
            _permit: permit,
            _transactional: transactional,
        }
    }
}

impl Worker {
    /// The transactional lane (see the module doc): one reserved slot blocked on the
    /// transactional streams; on a find, as many more slots as are free for a read of
    /// what else waits. Returns its deliveries still in flight at shutdown, for `run`
    /// to drain with its own.
    pub(super) async fn transactional_lane(
        self,
        slots: Arc<Slots>,
        shutdown: CancellationToken,
    ) -> JoinSet<()> {
        let consumer = self.inner.config.consumer.clone();
        let reader = self.inner.queue.transactional_reader();
        let mut deliveries = JoinSet::new();
        while !shutdown.is_cancelled() {
            let first = tokio::select! {
                permit = slots.gate.acquire(MessageStream::Transactional) => permit,
                () = shutdown.cancelled() => break,
            };
            // Not cancelled mid-read: entries Redis hands us are always processed.
            let mut entries = match reader.next(&consumer, 1, Duration::from_secs(1)).await {
                Ok(entries) => entries,
                Err(e) => {
                    tracing::debug!(error = %e, "reading the transactional streams failed; retrying");
                    drop(first);
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                        () = shutdown.cancelled() => {}
                    }
                    continue;
                }
            };
            let mut held = vec![first];
            if !entries.is_empty() {
                // A burst: read what else waits, with every slot free for it.
                while held.len() < MAX_BATCH {
                    match slots.gate.try_acquire(MessageStream::Transactional) {
                        Some(permit) => held.push(permit),
                        None => break,
                    }
                }
                if held.len() > 1 {
                    match reader.next(&consumer, held.len() - 1, Duration::ZERO).await {
                        Ok(more) => entries.extend(more),
                        Err(e) => {
                            tracing::debug!(error = %e, "reading more transactional entries failed")
                        }
                    }
                }
            }
            let entries = entries.into_iter().filter(|e| self.own(e)).collect();
            self.start_deliveries(&mut deliveries, entries, held, &slots);
        }
        deliveries
    }
}

impl Worker {
    /// Starts a delivery for each entry, each in one of `held`'s slots (slots left
    /// over are given back as `held` drops), and reaps the deliveries that finished.
    pub(super) fn start_deliveries(
        &self,
        deliveries: &mut JoinSet<()>,
        entries: Vec<QueueEntry>,
        mut held: Vec<GatePermit>,
        slots: &Arc<Slots>,
    ) {
        for entry in entries {
            let Some(permit) = held.pop() else { break };
            let slot = slots.assign(permit, entry.stream);
            deliveries.spawn(self.clone().process(entry, slot));
        }
        while let Some(finished) = deliveries.try_join_next() {
            if let Err(e) = finished {
                // The entry stays pending and is reclaimed; the panic must not pass unseen.
                tracing::error!(error = %e, "a delivery task panicked");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_reserve_is_an_eighth_at_least_four_at_most_half() {
        assert_eq!(default_reserve(64), 8);
        assert_eq!(default_reserve(256), 32);
        assert_eq!(default_reserve(16), 4);
        assert_eq!(default_reserve(8), 4);
        assert_eq!(default_reserve(5), 2);
        assert_eq!(default_reserve(1), 0);
    }

    #[tokio::test]
    async fn bulk_borrows_half_the_reserve_until_transactional_mail_is_in_flight() {
        let slots = Slots::new(8, 4);
        let bulk = slots.take_for_reading().await;
        assert_eq!(bulk.len(), 6, "8 slots, 2 of the 4 reserved lent");
        let permit = slots.gate.try_acquire(MessageStream::Transactional);
        let otp = slots.assign(
            permit.expect("a reserved slot"),
            MessageStream::Transactional,
        );
        // Bulk must now leave the whole reserve: freed bulk slots are not handed out again.
        let mut bulk = bulk.into_iter();
        drop(bulk.next());
        drop(bulk.next());
        assert!(slots.gate.try_acquire(MessageStream::Bulk).is_none());
        assert_eq!(slots.gate.available_to(MessageStream::Transactional), 3);
        drop(otp);
        assert_eq!(
            slots.gate.available_to(MessageStream::Bulk),
            2,
            "with no OTP in flight half the reserve is lent again"
        );
    }

    #[test]
    fn a_reserve_never_takes_every_slot() {
        let slots = Slots::new(2, 5);
        assert_eq!(slots.reserve, 1);
        assert!(slots.gate.try_acquire(MessageStream::Bulk).is_some());
        assert!(!Slots::new(4, 0).has_reserve());
    }
}
