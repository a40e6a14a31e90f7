//! A counting gate (a semaphore) that knows transactional mail from bulk.
//!
//! Every place where deliveries queue for a scarce resource — worker slots, the
//! cores that build and sign messages, connections to a destination — is one of
//! these, so that an OTP never waits behind a campaign (issue: "reserve delivery
//! capacity for transactional mail"). Two rules, and nothing else:
//!
//! - **Transactional first.** A permit given back goes to the longest-waiting
//!   transactional caller if there is one, and only then to a bulk caller. Within a
//!   stream, callers are served in the order they came.
//! - **A reserve bulk cannot take.** Bulk callers get a permit only while more than
//!   `reserve` permits are free, so the last `reserve` permits are always there for
//!   transactional mail (at once, without waiting for bulk work to finish: work in
//!   progress cannot be taken back). A freed permit that would dip into the reserve
//!   stays free rather than go to a waiting bulk caller.
//!
//! The reserve can change while the gate is in use ([`PriorityGate::set_reserve`]):
//! the worker lends part of its reserve to bulk while no transactional mail is in
//! flight and takes it back (as bulk deliveries finish) when some is.
//!
//! A caller that stops waiting (its future dropped) gives back a permit it was handed
//! in the meantime, so cancellation never leaks one.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use sluice_model::MessageStream;
use tokio::sync::oneshot;

/// A counting gate; cheap to clone (clones share the permits).
#[derive(Clone)]
pub struct PriorityGate {
    shared: Arc<Shared>,
}

struct Shared {
    /// What the wait histogram calls this gate (`worker`, `cpu`, `connection`).
    name: &'static str,
    total: usize,
    state: Mutex<State>,
}

struct State {
    free: usize,
    /// Bulk callers are served only while more than this many permits are free.
    reserve: usize,
    /// Waiting callers of each stream, oldest first. Invariants kept by
    /// [`Shared::hand_over`]: with a permit free no transactional caller waits, and
    /// with more than `reserve` free no bulk caller waits.
    transactional: VecDeque<oneshot::Sender<()>>,
    bulk: VecDeque<oneshot::Sender<()>>,
}

/// One permit of a [`PriorityGate`], given back when dropped.
pub struct GatePermit {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for GatePermit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatePermit")
            .field("gate", &self.shared.name)
            .finish()
    }
}

impl Drop for GatePermit {
    fn drop(&mut self) {
        self.shared.release();
    }
}

impl std::fmt::Debug for PriorityGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("PriorityGate")
            .field("name", &self.shared.name)
            .field("total", &self.shared.total)
            .field("free", &state.free)
            .field("reserve", &state.reserve)
            .finish()
    }
}

impl PriorityGate {
    /// `total` permits (at least 1), of which bulk callers never take the last
    /// `reserve` (at most `total`; a reserve of `total` keeps bulk out altogether).
    pub fn new(name: &'static str, total: usize, reserve: usize) -> Self {
        let total = total.max(1);
        Self {
            shared: Arc::new(Shared {
                name,
                total,
                state: Mutex::new(State {
                    free: total,
                    reserve: reserve.min(total),
                    transactional: VecDeque::new(),
                    bulk: VecDeque::new(),
                }),
            }),
        }
    }

    pub fn total(&self) -> usize {
        self.shared.total
    }

    /// Permits free right now.
    pub fn available(&self) -> usize {
        self.shared.lock().free
    }

    /// Permits a caller of `stream` could take right now without waiting.
    pub fn available_to(&self, stream: MessageStream) -> usize {
        let state = self.shared.lock();
        match stream {
            MessageStream::Transactional => state.free,
            MessageStream::Bulk => state.free.saturating_sub(state.reserve),
        }
    }

    /// Changes the reserve; freed room goes to waiting bulk callers at once.
    pub fn set_reserve(&self, reserve: usize) {
        let mut state = self.shared.lock();
        state.reserve = reserve.min(self.shared.total);
        self.shared.hand_over(&mut state);
    }

    /// A permit now, if `stream` may have one without waiting.
    pub fn try_acquire(&self, stream: MessageStream) -> Option<GatePermit> {
        let mut state = self.shared.lock();
        self.shared
            .try_take(&mut state, stream)
            .then(|| self.permit())
    }

    /// Waits for a permit: transactional callers are served before bulk ones, and
    /// bulk callers only while more than the reserve is free.
    pub async fn acquire(&self, stream: MessageStream) -> GatePermit {
        let rx = {
            let mut state = self.shared.lock();
            if self.shared.try_take(&mut state, stream) {
                return self.permit();
            }
            let (tx, rx) = oneshot::channel();
            let queue = match stream {
                MessageStream::Transactional => &mut state.transactional,
                MessageStream::Bulk => &mut state.bulk,
            };
            // Callers that gave up waiting leave their sender behind; drop them here
            // so a long wait cannot pile them up.
            queue.retain(|tx| !tx.is_closed());
            queue.push_back(tx);
            rx
        };
        let started = Instant::now();
        let mut waiting = Waiting {
            rx: Some(rx),
            shared: self.shared.clone(),
        };
        if let Some(rx) = waiting.rx.as_mut() {
            // The sender is only dropped after a send: an error cannot happen while
            // this caller holds the gate alive.
            let _ = rx.await;
        }
        waiting.rx = None;
        metrics::histogram!(
            "sluice_gate_wait_seconds",
            "gate" => self.shared.name,
            "stream" => stream.as_str()
        )
        .record(started.elapsed().as_secs_f64());
        self.permit()
    }

    fn permit(&self) -> GatePermit {
        GatePermit {
            shared: self.shared.clone(),
        }
    }
}

/// A caller waiting for its permit; dropped early, it gives back a permit it was
/// handed meanwhile.
struct Waiting {
    rx: Option<oneshot::Receiver<()>>,
    shared: Arc<Shared>,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if let Some(mut rx) = self.rx.take() {
            // After `close` no permit can be handed to this caller any more; one
            // handed before is in the channel.
            rx.close();
            if rx.try_recv().is_ok() {
                self.shared.release();
            }
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Only plain counters and queues behind the lock: usable after a panic.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes a permit for `stream` if one may be had now (by the invariants, nobody
    /// of the stream waits ahead of the caller then).
    fn try_take(&self, state: &mut State, stream: MessageStream) -> bool {
        let floor = match stream {
            MessageStream::Transactional => 0,
            MessageStream::Bulk => state.reserve,
        };
        if state.free > floor {
            state.free -= 1;
            true
        } else {
            false
        }
    }

    fn release(&self) {
        let mut state = self.lock();
        state.free += 1;
        self.hand_over(&mut state);
    }

    /// Hands free permits to waiting callers: transactional ones first, bulk ones
    /// while more than the reserve is free.
    fn hand_over(&self, state: &mut State) {
        while state.free > 0 {
            let Some(tx) = state.transactional.pop_front() else {
                break;
            };
            if tx.send(()).is_ok() {
                state.free -= 1;
            }
        }
        while state.free > state.reserve {
            let Some(tx) = state.bulk.pop_front() else {
                break;
            };
            if tx.send(()).is_ok() {
                state.free -= 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::time::Duration;
    use tokio::sync::mpsc;

    const T: MessageStream = MessageStream::Transactional;
    const B: MessageStream = MessageStream::Bulk;

    /// Starts a waiter that reports `label` when it gets its permit and then holds it.
    fn waiter(
        gate: &PriorityGate,
        stream: MessageStream,
        label: &'static str,
        done: &mpsc::UnboundedSender<(&'static str, GatePermit)>,
    ) -> tokio::task::JoinHandle<()> {
        let (gate, done) = (gate.clone(), done.clone());
        tokio::spawn(async move {
            let permit = gate.acquire(stream).await;
            done.send((label, permit)).unwrap();
        })
    }

    async fn settle() {
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn transactional_waiters_are_served_before_bulk_waiters_who_came_first() {
        let gate = PriorityGate::new("test", 1, 0);
        let held = gate.acquire(B).await;
        let (done, mut served) = mpsc::unbounded_channel();
        waiter(&gate, B, "bulk 1", &done);
        settle().await;
        waiter(&gate, B, "bulk 2", &done);
        settle().await;
        waiter(&gate, T, "otp 1", &done);
        settle().await;
        waiter(&gate, T, "otp 2", &done);
        settle().await;
        drop(held);
        let mut order = Vec::new();
        for _ in 0..4 {
            let (label, permit) = served.recv().await.unwrap();
            order.push(label);
            drop(permit);
        }
        assert_eq!(order, ["otp 1", "otp 2", "bulk 1", "bulk 2"]);
        assert_eq!(gate.available(), 1);
    }

    #[tokio::test]
    async fn bulk_never_takes_the_reserve() {
        let gate = PriorityGate::new("test", 4, 2);
        let bulk: Vec<_> = (0..2).map(|_| gate.try_acquire(B).unwrap()).collect();
        assert!(gate.try_acquire(B).is_none(), "the last two are reserved");
        assert_eq!(gate.available_to(B), 0);
        assert_eq!(gate.available_to(T), 2);
        let otps: Vec<_> = (0..2).map(|_| gate.try_acquire(T).unwrap()).collect();
        assert!(gate.try_acquire(T).is_none());

        // A bulk caller waits; an OTP's permit given back is not handed to it (it
        // would dip into the reserve), a bulk one is.
        let (done, mut served) = mpsc::unbounded_channel();
        waiter(&gate, B, "bulk", &done);
        settle().await;
        drop(otps);
        settle().await;
        assert!(served.try_recv().is_err(), "the reserve stays free");
        assert_eq!(gate.available(), 2);
        drop(bulk);
        let (label, _permit) = served.recv().await.unwrap();
        assert_eq!(label, "bulk");
        assert_eq!(gate.available(), 3);
    }

    #[tokio::test]
    async fn a_smaller_reserve_lends_permits_to_waiting_bulk_at_once() {
        let gate = PriorityGate::new("test", 3, 2);
        let _first = gate.try_acquire(B).unwrap();
        let (done, mut served) = mpsc::unbounded_channel();
        waiter(&gate, B, "bulk", &done);
        settle().await;
        assert!(served.try_recv().is_err());
        gate.set_reserve(1);
        let (label, _second) = served.recv().await.unwrap();
        assert_eq!(label, "bulk");
        assert_eq!(gate.available(), 1);
        assert!(gate.try_acquire(B).is_none());
        gate.set_reserve(0);
        assert!(gate.try_acquire(B).is_some());
    }

    #[tokio::test]
    async fn a_caller_that_stops_waiting_gives_back_a_permit_handed_to_it() {
        let gate = PriorityGate::new("test", 1, 0);
        let held = gate.acquire(T).await;
        // Cancelled while waiting, before any hand-over.
        let gave_up = tokio::time::timeout(Duration::from_millis(10), gate.acquire(T)).await;
        assert!(gave_up.is_err());
        drop(held);
        assert_eq!(gate.available(), 1, "nobody left waiting to hand it to");

        // Handed a permit, then dropped before it ran again.
        let held = gate.acquire(T).await;
        let mut pending = Box::pin(gate.acquire(B));
        assert!(futures_poll(&mut pending).is_none());
        drop(held);
        drop(pending);
        assert_eq!(gate.available(), 1, "the handed permit came back");
    }

    fn futures_poll<F: std::future::Future + Unpin>(f: &mut F) -> Option<F::Output> {
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        match std::pin::Pin::new(f).poll(&mut cx) {
            std::task::Poll::Ready(out) => Some(out),
            std::task::Poll::Pending => None,
        }
    }
}
