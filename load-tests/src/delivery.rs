//! Watches the sink's message counter to find when each delivery milestone was
//! reached: a background task samples it every few milliseconds and keeps the times
//! at which it changed.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sluice_smtp_server::SinkHandle;
use tokio::sync::watch;
use tokio::task::JoinHandle;

const SAMPLE_EVERY: Duration = Duration::from_millis(2);

pub struct DeliveryWatch {
    sink: SinkHandle,
    /// Sink count when the watch started (a reused sink may already hold messages).
    pub baseline: u64,
    changes: Arc<Mutex<Vec<(Instant, u64)>>>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// What the sink received for one run.
#[derive(Clone, Copy, Debug)]
pub struct Delivered {
    /// Messages received since the watch started.
    pub count: u64,
    /// When `expected` messages had been received, if they were.
    pub completed_at: Option<Instant>,
    /// When the count last changed.
    pub last_change: Option<Instant>,
}

impl DeliveryWatch {
    pub fn start(sink: &SinkHandle) -> Self {
        let baseline = sink.count();
        let changes = Arc::new(Mutex::new(Vec::new()));
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn({
            let sink = sink.clone();
            let changes = Arc::clone(&changes);
            async move {
                let mut last = baseline;
                let mut tick = tokio::time::interval(SAMPLE_EVERY);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        _ = tick.tick() => {}
                        _ = stopped.changed() => break,
                    }
                    let now = sink.count();
                    if now != last {
                        last = now;
                        lock(&changes).push((Instant::now(), now - baseline));
                    }
                }
            }
        });
        Self {
            sink: sink.clone(),
            baseline,
            changes,
            stop,
            task,
        }
    }

    /// Messages received so far in this run.
    pub fn count(&self) -> u64 {
        self.sink.count().saturating_sub(self.baseline)
    }

    /// Waits up to `timeout` until `expected` messages arrived, then stops sampling.
    pub async fn finish(self, expected: u64, timeout: Duration) -> Delivered {
        let reached = self
            .sink
            .wait_for_count(self.baseline + expected, timeout)
            .await;
        let reached_at = Instant::now();
        self.stop.send_replace(true);
        let _ = self.task.await;
        let changes = lock(&self.changes);
        let count = self.sink.count().saturating_sub(self.baseline);
        let sampled = changes
            .iter()
            .find(|(_, n)| *n >= expected)
            .map(|(at, _)| *at);
        // The sampler notices the last message up to SAMPLE_EVERY late, and the
        // wait may return before the sampler saw it: take the earlier of the two.
        let completed_at = match (reached, sampled) {
            (false, _) => None,
            (true, Some(sampled)) => Some(sampled.min(reached_at)),
            (true, None) => Some(reached_at),
        };
        Delivered {
            count,
            completed_at: if expected == 0 { None } else { completed_at },
            last_change: changes.last().map(|(at, _)| *at),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
