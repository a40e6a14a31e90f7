//! Answers read from Redis moments ago, kept in this process for a lookup every
//! accepted message makes: its sending domain (at thousands of messages a second it
//! was one of the three Redis calls of an accept).
//!
//! An entry lives [`RECENT_TTL`] (one second). A change made through this process
//! (updating a domain) clears what it could affect at once; a change made by another
//! process is seen here within that second. Only answers that let a message through
//! are kept: an unknown domain is read again every time, so a domain just created
//! works at once everywhere.
//!
//! API keys are deliberately not kept: a revocation holds on every process at once.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sluice_model::TenantId;

use crate::domains::SendingDomain;

/// How long an answer is reused.
pub const RECENT_TTL: Duration = Duration::from_secs(1);

/// Entries per map; past it the map starts over (a flood of distinct keys cannot
/// grow memory, and one second later the hot ones are back).
const MAX_ENTRIES: usize = 10_000;

/// One map of recent answers.
pub struct Recent<K, V> {
    ttl: Duration,
    entries: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: Eq + Hash, V: Clone> Recent<K, V> {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub fn get(&self, key: &K) -> Option<V> {
        let entries = self.lock();
        let (at, value) = entries.get(key)?;
        (at.elapsed() < self.ttl).then(|| value.clone())
    }

    pub fn insert(&self, key: K, value: V) {
        let mut entries = self.lock();
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key, (Instant::now(), value));
    }

    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, (Instant, V)>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The recent answers a [`Store`](crate::Store) and its clones share.
pub struct RecentLookups {
    pub domains: Recent<(TenantId, String), SendingDomain>,
}

impl Default for RecentLookups {
    fn default() -> Self {
        Self {
            domains: Recent::new(RECENT_TTL),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_clear() {
        let recent = Recent::new(Duration::from_millis(50));
        recent.insert("a", 1);
        assert_eq!(recent.get(&"a"), Some(1));
        assert_eq!(recent.get(&"b"), None);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(recent.get(&"a"), None, "an entry past its TTL is not used");
        recent.insert("a", 2);
        recent.clear();
        assert_eq!(recent.get(&"a"), None);
    }

    #[test]
    fn a_full_map_starts_over() {
        let recent = Recent::new(Duration::from_secs(60));
        for i in 0..MAX_ENTRIES {
            recent.insert(i, i);
        }
        recent.insert(MAX_ENTRIES, 0);
        assert_eq!(recent.get(&0), None);
        assert_eq!(recent.get(&MAX_ENTRIES), Some(0));
        assert!(recent.lock().len() <= MAX_ENTRIES);
    }
}
