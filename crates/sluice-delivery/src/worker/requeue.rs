//! Moving mail back into its stream: due retries and scheduled sends (promote), and
//! mail parked for a destination whose connection just freed (release, see
//! [`super::waiting`]).

use std::collections::HashMap;

use time::OffsetDateTime;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::Worker;

impl Worker {
    pub(super) async fn promote_loop(self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(self.inner.config.promote_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.cancelled() => return,
            }
            loop {
                match self
                    .inner
                    .queue
                    .promote_due(OffsetDateTime::now_utc(), 1000)
                    .await
                {
                    Ok(1000) => continue,
                    Ok(_) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "moving due messages failed");
                        break;
                    }
                }
            }
        }
    }

    /// Releases mail waiting for a destination whenever one of its connections frees
    /// (see [`super::waiting`]); bursts of freed slots are coalesced into one call per list.
    pub(super) async fn release_loop(
        self,
        mut freed: mpsc::UnboundedReceiver<String>,
        shutdown: CancellationToken,
    ) {
        loop {
            let first = tokio::select! {
                name = freed.recv() => match name { Some(name) => name, None => return },
                _ = shutdown.cancelled() => return,
            };
            let mut wanted: HashMap<String, u32> = HashMap::from([(first, 1)]);
            while let Ok(name) = freed.try_recv() {
                *wanted.entry(name).or_default() += 1;
            }
            for (name, count) in wanted {
                match self.inner.queue.release_waiting(&name, count).await {
                    Ok((_, left)) => self.inner.waitlists.remaining(&name, left),
                    // The parked mail still comes back by its fallback time.
                    Err(e) => {
                        tracing::warn!(destination = %name, error = %e, "releasing waiting mail failed")
                    }
                }
            }
        }
    }
}
