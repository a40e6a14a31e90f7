//! Readiness beyond "Redis answers": the Redis server's durability settings, as
//! checked at start, are re-checked in the background. Someone running
//! `CONFIG SET maxmemory-policy allkeys-lru` (or turning the append-only file off)
//! on a running server turns `/readyz` 503 with the reason, within one interval.
//! The check never runs per request: `/readyz` reads the last result.

use std::sync::RwLock;
use std::time::Duration;

use sluice_store::Store;
use sluice_store::server_check::Requirements;

/// The last background verdict on the server's settings.
#[derive(Debug, Default)]
pub struct Readiness {
    /// Why the server's settings break the promise a 202 makes; `None` while fine.
    problem: RwLock<Option<String>>,
}

impl Readiness {
    pub fn problem(&self) -> Option<String> {
        self.problem
            .read()
            .map(|p| p.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    fn set(&self, problem: Option<String>) {
        match self.problem.write() {
            Ok(mut slot) => *slot = problem,
            Err(e) => *e.into_inner() = problem,
        }
    }
}

/// Re-checks the server every `interval` until `shutdown` resolves. A Redis that
/// cannot be reached leaves the verdict as it was (`/readyz` pings for that itself).
pub async fn watch_server(
    store: Store,
    requirements: Requirements,
    interval: Duration,
    readiness: std::sync::Arc<Readiness>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = ticker.tick() => {}
        }
        let report = match store.server_report().await {
            Ok(report) => report,
            Err(error) => {
                tracing::debug!(%error, "could not re-check the Redis server's settings");
                continue;
            }
        };
        let verdict = requirements.check(&report).err().map(|e| e.to_string());
        let before = readiness.problem();
        if verdict != before {
            match &verdict {
                Some(problem) => {
                    tracing::error!(%problem, "not ready: the Redis server's settings changed")
                }
                None => tracing::info!("the Redis server's settings are acceptable again"),
            }
        }
        readiness.set(verdict);
    }
}
