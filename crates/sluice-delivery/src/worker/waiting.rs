//! Mail waiting for a busy destination, released when a connection frees.
//!
//! When every connection this process may open to a destination is in use (a dead
//! host holds them until their timeout, or a healthy one is simply at its cap), the
//! message is parked in the delayed set with a long fallback time *and* appended to
//! the destination's wait list in Redis. Each connection slot this process gives back
//! releases one waiting message at once. So parked mail neither polls (thousands of
//! messages behind a dead host would otherwise crowd out healthy traffic on every
//! pass) nor waits out its fallback when the destination is merely busy.
//!
//! Connection caps are per process, so a process parks mail only because of its own
//! busy connections — and those connections, when freed, are what wakes the list.
//! Parked mail another process left behind still returns by its fallback time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use sluice_gate::GatePermit;
use tokio::sync::mpsc;

/// This process's view of the wait lists: how many entries it believes each holds,
/// and the channel on which freed connection slots ask for releases.
pub struct WaitLists {
    waiting: Mutex<HashMap<String, u64>>,
    freed: mpsc::UnboundedSender<String>,
}

impl WaitLists {
    /// The lists and the receiving end of "a slot of this destination was freed".
    pub fn new() -> (Arc<Self>, mpsc::UnboundedReceiver<String>) {
        let (freed, rx) = mpsc::unbounded_channel();
        (
            Arc::new(Self {
                waiting: Mutex::new(HashMap::new()),
                freed,
            }),
            rx,
        )
    }

    /// A message was parked on `name`'s list (counted only once it is there, so a
    /// release can never run ahead of the message it is meant for).
    pub fn parked(&self, name: &str) {
        *self.lock().entry(name.to_string()).or_default() += 1;
    }

    /// Asks for one release now: a slot freed while the message was being parked.
    pub fn wake(&self, name: &str) {
        let _ = self.freed.send(name.to_string());
    }

    /// What Redis said is left on `name`'s list after a release.
    pub fn remaining(&self, name: &str, count: u64) {
        let mut waiting = self.lock();
        if count == 0 {
            waiting.remove(name);
        } else {
            waiting.insert(name.to_string(), count);
        }
    }

    /// A connection slot of `name` was given back: ask for one release if anything
    /// is believed to wait (at most one request in flight per believed entry).
    fn slot_freed(&self, name: &str) {
        let mut waiting = self.lock();
        if let Some(count) = waiting.get_mut(name).filter(|c| **c > 0) {
            *count -= 1;
            let _ = self.freed.send(name.to_string());
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One connection slot to a destination; giving it back (drop) releases a message
/// waiting for that destination, if any.
pub struct ConnectionPermit {
    _permit: GatePermit,
    waitlist: String,
    lists: Arc<WaitLists>,
}

impl ConnectionPermit {
    pub fn new(permit: GatePermit, waitlist: String, lists: Arc<WaitLists>) -> Self {
        Self {
            _permit: permit,
            waitlist,
            lists,
        }
    }
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        self.lists.slot_freed(&self.waitlist);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_gate::PriorityGate;
    use sluice_model::MessageStream;

    #[tokio::test]
    async fn a_freed_slot_asks_for_a_release_only_while_mail_waits() {
        let (lists, mut freed) = WaitLists::new();
        let slots = PriorityGate::new("test", 2, 0);
        let permit = |lists: &Arc<WaitLists>| {
            let inner = slots
                .try_acquire(MessageStream::Transactional)
                .expect("a free slot");
            ConnectionPermit::new(inner, "gmail".into(), lists.clone())
        };

        drop(permit(&lists));
        assert!(freed.try_recv().is_err(), "nothing waits: no release asked");

        lists.parked("gmail");
        lists.parked("gmail");
        drop(permit(&lists));
        drop(permit(&lists));
        drop(permit(&lists));
        assert_eq!(freed.try_recv().ok().as_deref(), Some("gmail"));
        assert_eq!(freed.try_recv().ok().as_deref(), Some("gmail"));
        assert!(
            freed.try_recv().is_err(),
            "one release per waiting message, not per freed slot"
        );

        lists.remaining("gmail", 1);
        drop(permit(&lists));
        assert_eq!(freed.try_recv().ok().as_deref(), Some("gmail"));
        lists.parked("yahoo");
        drop(permit(&lists));
        assert!(freed.try_recv().is_err(), "lists are per destination");
    }
}
