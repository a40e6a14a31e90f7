//! What a Prometheus scrape returns, in every role of every process.
//!
//! Counters and histograms are recorded through the `metrics` facade wherever things
//! happen (accepts in the API, deliveries in the worker, webhook attempts in the
//! sender) into one process-wide recorder, installed by [`recorder`] before any role
//! starts — so a worker-only process counts its deliveries too.
//!
//! Queue gauges come from Redis, because the queues are shared by every process:
//! `sluice_queue_depth{queue}`, `sluice_queue_oldest_age_seconds{stream}` (how long
//! the oldest ready or in-flight entry has waited) and
//! `sluice_queue_delayed_overdue_seconds` (how late the most overdue scheduled send
//! or retry is: above a few seconds, nothing is promoting them). They
//! are read with O(1) commands only (XLEN, the XPENDING summary, ZCARD, the first
//! entry, TIME: one pipelined round trip per partition, see
//! `sluice_store::Store::queue_depth`) and at most once per
//! [`SAMPLE_INTERVAL`] however many scrapers ask, on however many listeners: a scrape
//! can never become a keyspace walk, and a scrape storm costs Redis nothing more.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use sluice_store::Store;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// Queue gauges are at most this old at a scrape (and Redis is asked at most this often).
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(5);

/// A sample that takes longer is given up; the scrape answers with the previous values.
const SAMPLE_TIMEOUT: Duration = Duration::from_secs(2);

/// How often histogram samples are folded into their distributions. Without it, a
/// process nobody scrapes would keep every sample in memory.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Installs the process-wide Prometheus recorder once and returns its handle.
pub fn recorder() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        // Fails only if another recorder was installed first; then ours just stays empty.
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("another metrics recorder is installed; /metrics will be empty");
        }
        let upkeep = handle.clone();
        // A thread, not a task: it outlives any one runtime (tests start many).
        let spawned = std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(UPKEEP_INTERVAL);
                    upkeep.run_upkeep();
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "could not start the metrics upkeep thread");
        }
        handle
    })
}

/// Renders scrapes; clones share one sample of the queue gauges.
#[derive(Clone)]
pub struct Scrape {
    store: Store,
    /// When Redis was last asked; the lock also makes concurrent scrapes share one sample.
    last_sample: Arc<Mutex<Option<Instant>>>,
}

impl Scrape {
    pub fn new(store: Store) -> Self {
        recorder();
        Self {
            store,
            last_sample: Arc::new(Mutex::new(None)),
        }
    }

    /// The Prometheus text exposition of this process, with queue gauges at most
    /// [`SAMPLE_INTERVAL`] old. Never fails: when Redis cannot be read the gauges keep
    /// their last values and `sluice_queue_sample_failures_total` counts it (readiness,
    /// not the scrape, is what reports Redis down).
    pub async fn render(&self) -> String {
        self.sample_if_stale().await;
        recorder().render()
    }

    async fn sample_if_stale(&self) {
        let mut last = self.last_sample.lock().await;
        if last.is_some_and(|at| at.elapsed() < SAMPLE_INTERVAL) {
            return;
        }
        // Stamped before asking, so a failing Redis is not asked at every scrape either.
        *last = Some(Instant::now());
        let depth = match tokio::time::timeout(SAMPLE_TIMEOUT, self.store.queue_depth()).await {
            Ok(Ok(depth)) => depth,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "could not sample the queue depth");
                metrics::counter!("sluice_queue_sample_failures_total").increment(1);
                return;
            }
            Err(_) => {
                tracing::warn!(timeout = ?SAMPLE_TIMEOUT, "sampling the queue depth timed out");
                metrics::counter!("sluice_queue_sample_failures_total").increment(1);
                return;
            }
        };
        for (queue, value) in [
            ("transactional", depth.transactional),
            ("bulk", depth.bulk),
            ("delayed", depth.delayed),
            ("in_flight", depth.in_flight),
        ] {
            metrics::gauge!("sluice_queue_depth", "queue" => queue).set(value as f64);
        }
        for (stream, age) in [
            ("transactional", depth.transactional_oldest),
            ("bulk", depth.bulk_oldest),
        ] {
            metrics::gauge!("sluice_queue_oldest_age_seconds", "stream" => stream)
                .set(age.as_secs_f64());
        }
        metrics::gauge!("sluice_queue_delayed_overdue_seconds")
            .set(depth.delayed_overdue.as_secs_f64());
    }
}
