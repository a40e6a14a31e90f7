//! The delivery worker: reads the queues (transactional first), builds, signs and
//! relays each message, and records the outcome atomically with the acknowledgement.
//!
//! Concurrency is a semaphore of `concurrency` permits: a permit is taken before an
//! entry is read, so a worker never holds more entries than it can work on, and the
//! rest stay in Redis for other worker processes. Side loops move due retries back to
//! their stream and keep this process's liveness key fresh; the [`recovery`] loop
//! takes over the entries of stopped processes and retries entries this one lost
//! track of.
//!
//! Every entry this process holds is in its `owned` set from the moment Redis hands
//! it over until its attempt is settled (or the attempt gave up and the entry is
//! left for [`recovery`] to retry). Recording an attempt is retried until Redis takes
//! it — sending the message again would be worse — and is never cut short by the
//! drain timeout: only the SMTP side of an attempt is aborted.

mod dispatch;
mod outcome;
mod recovery;
mod return_path;
mod shaping;
mod signers;
mod suppression;
mod waiting;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sluice_model::MessageStream;
use sluice_store::{Loaded, Queue, QueueEntry, Settlement, Store, StoreError};
use time::OffsetDateTime;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use outcome::{AttemptResult, RecipientOutcome, settle_attempt};
use signers::{SignerCache, SignerError};

use crate::mime::{MimeEnvelopeInfo, build_message};
use crate::retry::RetryPolicy;
use crate::routing::{MxResolver, ResolverConfig, RouteError, Router, RouterConfig};
use crate::smtp::SmtpPool;
use dispatch::{Dispatcher, LazyMessage, Outgoing};
pub use return_path::ReturnPaths;
pub use shaping::{AdaptiveConfig, Source, SourcePool, WarmupSchedule};
use waiting::WaitLists;

use crate::providers::ProviderTable;

#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// Deliveries in flight at once in this process (SLUICE_WORKERS).
    pub concurrency: usize,
    /// This process's consumer name in the Redis consumer group; unique per process.
    pub consumer: String,
    /// Where each recipient domain's mail goes: per-domain relays, the default relay
    /// (SLUICE_RELAY_URL), or direct MX delivery.
    pub router: RouterConfig,
    /// The name servers MX lookups use (`delivery.dns_servers`).
    pub resolver: ResolverConfig,
    /// Every source-address pool by name (`delivery.pools`).
    pub pools: Vec<(String, Vec<Source>)>,
    /// VERP return paths and unsubscribe links; `None` sends with the From address as
    /// the envelope sender and no unsubscribe headers.
    pub return_paths: Option<ReturnPaths>,
    /// Each stream's default pool (`default_pool`, `stream_pools`); tenants may override.
    pub stream_pools: Vec<(MessageStream, String)>,
    /// Mailbox providers and their per-IP limits (built-ins plus `[[delivery.providers]]`).
    pub providers: ProviderTable,
    /// How learned rates react to throttling replies and clean deliveries.
    pub adaptive: AdaptiveConfig,
    pub retry: RetryPolicy,
    /// This process's liveness key expires this long after its last refresh (it is
    /// refreshed four times per period); then its entries are taken over by another
    /// worker. A slow delivery by a live process is never taken.
    pub liveness_ttl: Duration,
    /// How often due retries and scheduled sends are moved back to their stream.
    pub promote_interval: Duration,
    /// At shutdown, how long in-flight deliveries may take to finish.
    pub drain_timeout: Duration,
}

impl WorkerConfig {
    pub fn new(router: RouterConfig, resolver: ResolverConfig) -> Self {
        Self {
            concurrency: 64,
            consumer: unique_consumer_name(),
            router,
            resolver,
            pools: Vec::new(),
            return_paths: None,
            stream_pools: Vec::new(),
            providers: ProviderTable::builtin(),
            adaptive: AdaptiveConfig::default(),
            retry: RetryPolicy::default(),
            liveness_ttl: recovery::DEFAULT_LIVENESS_TTL,
            promote_interval: Duration::from_secs(1),
            drain_timeout: Duration::from_secs(60),
        }
    }
}

#[derive(Clone)]
pub struct Worker {
    inner: Arc<Inner>,
}

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Routing(#[from] RouteError),
}

/// A tenant's pool choices and when they were read.
type CachedPools = (
    std::time::Instant,
    std::collections::BTreeMap<MessageStream, String>,
);

struct Inner {
    queue: Queue,
    store: Store,
    /// Tenants' own pool choices, cached briefly (they change rarely, by the admin API).
    tenant_pools: Mutex<HashMap<sluice_model::TenantId, CachedPools>>,
    pool: SmtpPool,
    dispatcher: Dispatcher,
    config: WorkerConfig,
    signers: SignerCache,
    /// Signing is CPU-bound: at most one signing job per core runs on the blocking pool.
    cpu: Arc<Semaphore>,
    /// Entries Redis has handed to this process and it has not settled, by
    /// `<stream>|<entry id>` (see the module doc).
    owned: Mutex<HashMap<String, QueueEntry>>,
    /// Settle calls in progress: awaited at shutdown, never aborted.
    settling: TaskTracker,
    /// Cancelled when shutdown stops waiting for settle calls (Redis is unreachable).
    stop_settling: CancellationToken,
    waitlists: Arc<WaitLists>,
    /// "A connection to this destination freed": taken by the release loop.
    freed_slots: Mutex<Option<mpsc::UnboundedReceiver<String>>>,
}

impl Worker {
    pub async fn new(
        store: Store,
        pool: SmtpPool,
        config: WorkerConfig,
    ) -> Result<Self, WorkerError> {
        let queue = store.queue().await?;
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        let (waitlists, freed_slots) = WaitLists::new();
        let pools = config
            .pools
            .iter()
            .map(|(name, sources)| (name.clone(), SourcePool::new(name.clone(), sources.clone())))
            .collect();
        let dispatcher = Dispatcher {
            router: Router::new(&config.router)?,
            resolver: MxResolver::new(&config.resolver)?,
            pool: pool.clone(),
            helo_name: config.router.helo_name.clone(),
            pools: Arc::new(pools),
            shaper: Arc::new(shaping::Shaper::new(
                config.providers.clone(),
                store.clone(),
                config.adaptive.clone(),
                waitlists.clone(),
            )),
        };
        Ok(Self {
            inner: Arc::new(Inner {
                queue,
                store: store.clone(),
                tenant_pools: Mutex::new(HashMap::new()),
                pool,
                dispatcher,
                config,
                signers: SignerCache::new(store),
                cpu: Arc::new(Semaphore::new(cores)),
                owned: Mutex::new(HashMap::new()),
                settling: TaskTracker::new(),
                stop_settling: CancellationToken::new(),
                waitlists,
                freed_slots: Mutex::new(Some(freed_slots)),
            }),
        })
    }

    /// Runs until `shutdown` is cancelled, then stops reading, lets in-flight
    /// deliveries finish (up to the drain timeout), waits for their settle calls, and
    /// hands back what it could not finish: its liveness key says `gone`, so another
    /// worker takes the entries over at once.
    pub async fn run(self, shutdown: CancellationToken) {
        let config = &self.inner.config;
        let permits = Arc::new(Semaphore::new(config.concurrency.max(1)));
        let (found_tx, mut found_rx) = mpsc::channel::<QueueEntry>(recovery::FOUND_CAPACITY);
        let mut side_loops = JoinSet::new();
        side_loops.spawn(self.clone().promote_loop(shutdown.clone()));
        // Liveness outlasts the drain: a draining process still owns its deliveries.
        let liveness_stop = CancellationToken::new();
        let liveness = tokio::spawn(self.clone().liveness_loop(liveness_stop.clone()));
        side_loops.spawn(self.clone().recovery_loop(found_tx, shutdown.clone()));
        let freed_slots = self
            .inner
            .freed_slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(freed_slots) = freed_slots {
            side_loops.spawn(self.clone().release_loop(freed_slots, shutdown.clone()));
        }
        tracing::info!(consumer = %config.consumer, concurrency = config.concurrency, "delivery worker started");

        let mut deliveries = JoinSet::new();
        while !shutdown.is_cancelled() {
            let mut held = match Self::take_permits(&permits, &shutdown).await {
                Some(held) => held,
                None => break,
            };
            let mut entries = Vec::new();
            while entries.len() < held.len() {
                match found_rx.try_recv() {
                    Ok(entry) => entries.push(entry),
                    Err(_) => break,
                }
            }
            if entries.is_empty() {
                // Not cancelled mid-read: entries Redis hands us are always processed.
                match self
                    .inner
                    .queue
                    .next_batch(&config.consumer, held.len(), Duration::from_secs(1))
                    .await
                {
                    Ok(batch) => {
                        for entry in &batch {
                            self.own(entry);
                        }
                        entries = batch
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "reading the queue failed; retrying");
                        // The streams or the group may have been deleted (FLUSHALL, a
                        // restored snapshot): recreate them rather than fail forever.
                        if let Err(e) = self.inner.queue.ensure_groups().await {
                            tracing::debug!(error = %e, "recreating the consumer group failed");
                        }
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                            _ = shutdown.cancelled() => {}
                        }
                    }
                }
            }
            for entry in entries {
                let Some(permit) = held.pop() else { break };
                deliveries.spawn(self.clone().process(entry, permit));
            }
            while let Some(finished) = deliveries.try_join_next() {
                if let Err(e) = finished {
                    // The entry stays pending and is reclaimed; the panic must not pass unseen.
                    tracing::error!(error = %e, "a delivery task panicked");
                }
            }
        }
        tracing::info!(in_flight = deliveries.len(), "worker draining");
        if tokio::time::timeout(config.drain_timeout, async {
            while deliveries.join_next().await.is_some() {}
        })
        .await
        .is_err()
        {
            tracing::warn!(
                left = deliveries.len(),
                "drain timeout: handing unfinished deliveries back to other workers"
            );
            deliveries.abort_all();
            while deliveries.join_next().await.is_some() {}
        }
        self.finish_settling().await;
        side_loops.abort_all();
        liveness_stop.cancel();
        let _ = liveness.await;
        let left = self.lock_owned().len();
        match self.inner.queue.retire(&config.consumer).await {
            Ok(()) => tracing::info!(handed_back = left, "delivery worker stopped"),
            Err(e) => tracing::warn!(
                handed_back = left,
                error = %e,
                "could not mark this worker stopped; its entries are taken over once its liveness expires"
            ),
        }
        self.inner.pool.close_idle().await;
    }

    /// Waits for settle calls still running (bounded: Redis may be gone).
    async fn finish_settling(&self) {
        let settling = &self.inner.settling;
        settling.close();
        if tokio::time::timeout(recovery::SETTLE_GRACE, settling.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                left = settling.len(),
                "settle calls still failing at shutdown; those messages are retried by another worker"
            );
            self.inner.stop_settling.cancel();
            settling.wait().await;
        }
    }

    /// Waits for at least one free permit and takes as many as are free (up to 64).
    async fn take_permits(
        permits: &Arc<Semaphore>,
        shutdown: &CancellationToken,
    ) -> Option<Vec<OwnedSemaphorePermit>> {
        let first = tokio::select! {
            permit = permits.clone().acquire_owned() => permit.ok()?,
            _ = shutdown.cancelled() => return None,
        };
        let mut held = vec![first];
        while held.len() < 64 {
            match permits.clone().try_acquire_owned() {
                Ok(permit) => held.push(permit),
                Err(_) => break,
            }
        }
        Some(held)
    }

    async fn process(self, entry: QueueEntry, _permit: OwnedSemaphorePermit) {
        if let Err(e) = self.deliver(&entry).await {
            // The entry stays pending on this consumer; `recovery` retries it shortly.
            tracing::warn!(message = %entry.message_id, error = %e, "delivery attempt not finished; retrying shortly");
        }
        self.disown(&entry);
    }

    async fn deliver(&self, entry: &QueueEntry) -> Result<(), StoreError> {
        let queue = &self.inner.queue;
        let job = match queue.load(entry).await {
            Ok(Loaded::Job(job)) => job,
            Ok(Loaded::Finished) => return queue.discard(entry).await,
            Ok(Loaded::Missing) => {
                return self
                    .dead_letter(entry, "the message record is missing (expired or deleted)")
                    .await;
            }
            // A record this version cannot read would otherwise be retried forever.
            Err(StoreError::Corrupt { key, reason }) => {
                tracing::error!(%key, %reason, "unreadable message record");
                return self
                    .dead_letter(entry, &format!("unreadable message record: {reason}"))
                    .await;
            }
            Err(e) => return Err(e),
        };
        let result = self.attempt_unsuppressed(&job).await;
        let settlement = settle_attempt(
            &job,
            &result,
            &self.inner.config.retry,
            OffsetDateTime::now_utc(),
        );
        // Spawned so that aborting this attempt at the drain timeout never cuts the
        // recording of a finished SMTP transaction (which would send it twice).
        let settle = {
            let (worker, entry, settlement) = (self.clone(), entry.clone(), settlement.clone());
            self.inner
                .settling
                .spawn(async move { worker.settle_until_recorded(&entry, &settlement).await })
        };
        match settle.await {
            Ok(result) => result?,
            Err(e) => {
                tracing::error!(error = %e, "a settle task failed");
                return Ok(());
            }
        }
        for name in &settlement.waitlists {
            self.inner.waitlists.parked(name);
            if self.inner.dispatcher.shaper.has_free_connection(name) {
                self.inner.waitlists.wake(name);
            }
        }
        for event in &settlement.events {
            let name = serde_json::to_value(event.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string));
            metrics::counter!(
                "sluice_recipient_outcomes_total",
                "event" => name.unwrap_or_default(),
                "stream" => entry.stream.as_str()
            )
            .increment(1);
        }
        tracing::debug!(message = %entry.message_id, status = settlement.status.as_str(), attempts = settlement.attempts, "delivery attempt settled");
        Ok(())
    }

    async fn attempt(&self, job: &sluice_store::DeliveryJob) -> AttemptResult {
        let pending: Vec<String> = job
            .recipients
            .iter()
            .filter(|r| !r.status.is_final())
            .map(|r| r.address.clone())
            .collect();
        if pending.is_empty() {
            return AttemptResult::replies(Vec::new());
        }
        let domain = job.message.from.address.domain();
        let signer = match self.inner.signers.get(&job.tenant, domain).await {
            Ok(signer) => signer,
            Err(SignerError::Store(e)) => {
                return AttemptResult::transient(format!("loading the DKIM key: {e}"));
            }
            Err(e) => return AttemptResult::failed(e.to_string()),
        };
        let pool = self.pool_for(&job.tenant, job.entry.stream).await;
        let paths = self.inner.config.return_paths.as_ref();
        let index_of = |address: &str| {
            job.recipients
                .iter()
                .position(|r| r.address.eq_ignore_ascii_case(address))
                .map_or(return_path::SEVERAL, |i| i as u16)
        };
        // Bulk mail carries a one-click unsubscribe link per recipient, so each
        // recipient gets its own copy (and transaction); other mail goes out once.
        let groups: Vec<Vec<String>> = if job.entry.stream == MessageStream::Bulk && paths.is_some()
        {
            pending.into_iter().map(|r| vec![r]).collect()
        } else {
            vec![pending]
        };
        let mut sends = JoinSet::new();
        for recipients in groups {
            let indexes: Vec<u16> = recipients.iter().map(|r| index_of(r)).collect();
            let headers = match (paths, indexes.as_slice()) {
                (Some(paths), [index]) if job.entry.stream == MessageStream::Bulk => {
                    paths.unsubscribe_headers(&job.entry.message_id, *index)
                }
                _ => Vec::new(),
            };
            let (worker, signed_job, signer) = (self.clone(), job.clone(), signer.clone());
            let data = LazyMessage::new(async move {
                worker.build_and_sign(&signed_job, signer, headers).await
            });
            let outgoing = Outgoing {
                pool: pool.clone(),
                // VERP: a later bounce or complaint names the message and recipient.
                mail_from: Some(paths.map_or_else(
                    || job.message.from.address.to_string(),
                    |p| p.mail_from(&job.entry.message_id, &indexes),
                )),
                smtputf8: job.message.needs_smtputf8(),
                data,
            };
            let dispatcher = self.inner.dispatcher.clone();
            sends.spawn(async move { dispatcher.send(outgoing, recipients).await });
        }
        let mut result = AttemptResult::transient("the delivery task did not finish");
        while let Some(part) = sends.join_next().await {
            match part {
                Ok(part) => result.merge(part),
                Err(e) => tracing::error!(error = %e, "a delivery task failed"),
            }
        }
        result
    }

    /// The pool for this tenant and stream: the tenant's own choice (PATCH
    /// /v1/admin/tenants/{id}), else the stream's configured default.
    async fn pool_for(
        &self,
        tenant: &sluice_model::TenantId,
        stream: MessageStream,
    ) -> Option<String> {
        const TTL: Duration = Duration::from_secs(30);
        let cached = {
            let cache = self
                .inner
                .tenant_pools
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            cache
                .get(tenant)
                .filter(|(at, _)| at.elapsed() < TTL)
                .map(|(_, pools)| pools.clone())
        };
        let overrides = match cached {
            Some(pools) => pools,
            None => {
                let pools = match self.inner.store.get_tenant(tenant).await {
                    Ok(Some(view)) => view.pools,
                    Ok(None) => Default::default(),
                    Err(e) => {
                        tracing::warn!(%tenant, error = %e, "could not read the tenant's pools; using the defaults");
                        return self.default_pool(stream);
                    }
                };
                let mut cache = self
                    .inner
                    .tenant_pools
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                cache.insert(tenant.clone(), (std::time::Instant::now(), pools.clone()));
                pools
            }
        };
        overrides
            .get(&stream)
            .cloned()
            .or_else(|| self.default_pool(stream))
    }

    fn default_pool(&self, stream: MessageStream) -> Option<String> {
        self.inner
            .config
            .stream_pools
            .iter()
            .find(|(s, _)| *s == stream)
            .map(|(_, name)| name.clone())
    }

    /// MIME building and DKIM signing on the blocking pool, at most one per core.
    async fn build_and_sign(
        &self,
        job: &sluice_store::DeliveryJob,
        signer: Arc<signers::SignerSet>,
        extra_headers: Vec<(String, String)>,
    ) -> Result<Vec<u8>, String> {
        let _cpu = self
            .inner
            .cpu
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| e.to_string())?;
        let message = job.message.clone();
        let message_id = job
            .message_id_header
            .trim_start_matches('<')
            .trim_end_matches('>')
            .to_string();
        let date = job.due_at();
        tokio::task::spawn_blocking(move || {
            let info = MimeEnvelopeInfo {
                message_id: &message_id,
                date,
                extra_headers: &extra_headers,
            };
            let unsigned =
                build_message(&message, &info).map_err(|e| format!("building the message: {e}"))?;
            signer
                .sign_into(&unsigned)
                .map_err(|e| format!("DKIM signing: {e}"))
        })
        .await
        .map_err(|e| format!("signing task: {e}"))?
    }

    async fn promote_loop(self, shutdown: CancellationToken) {
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
    /// (see [`waiting`]); bursts of freed slots are coalesced into one call per list.
    async fn release_loop(
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

    /// Records an attempt's outcome, retrying (with backoff) until Redis takes it:
    /// the SMTP side is done, and giving up would mean sending the message again.
    /// Gives up only when shutdown stops waiting.
    async fn settle_until_recorded(
        &self,
        entry: &QueueEntry,
        settlement: &Settlement,
    ) -> Result<(), StoreError> {
        let mut delay = Duration::from_millis(100);
        let mut failures = 0u32;
        loop {
            match self.inner.queue.settle(entry, settlement).await {
                Ok(()) => {
                    if failures > 0 {
                        tracing::info!(message = %entry.message_id, failures, "delivery attempt recorded after retries");
                    }
                    return Ok(());
                }
                Err(e) => {
                    failures += 1;
                    metrics::counter!("sluice_settle_retries_total").increment(1);
                    tracing::warn!(message = %entry.message_id, error = %e, failures, "recording a delivery attempt failed; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = self.inner.stop_settling.cancelled() => return Err(e),
                    }
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    /// Acknowledges an entry that can never be delivered, loudly: an error log, a
    /// metric and the lost-entries stream name it.
    async fn dead_letter(&self, entry: &QueueEntry, reason: &str) -> Result<(), StoreError> {
        tracing::error!(message = %entry.message_id, stream = %entry.stream, entry = %entry.entry_id, %reason, "queue entry cannot be delivered; recorded as lost");
        metrics::counter!("sluice_queue_entries_lost_total", "stream" => entry.stream.as_str())
            .increment(1);
        self.inner.queue.dead_letter(entry, reason).await
    }

    fn lock_owned(&self) -> std::sync::MutexGuard<'_, HashMap<String, QueueEntry>> {
        self.inner
            .owned
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Marks an entry as held by this process; `false` when it already was.
    fn own(&self, entry: &QueueEntry) -> bool {
        self.lock_owned()
            .insert(owned_key(entry), entry.clone())
            .is_none()
    }

    fn disown(&self, entry: &QueueEntry) {
        self.lock_owned().remove(&owned_key(entry));
    }

    /// Queue depth, for readiness and metrics.
    pub async fn depth(&self) -> Result<sluice_store::QueueDepth, StoreError> {
        self.inner.queue.depth().await
    }
}

fn owned_key(entry: &QueueEntry) -> String {
    format!("{}|{}", entry.stream.as_str(), entry.entry_id)
}

/// `<host>-<pid>-<n>`: unique per worker instance (several may share a process),
/// readable in `XINFO CONSUMERS`.
fn unique_consumer_name() -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let host =
        std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_else(|_| "host".into());
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{}-{}-{n}", host.trim(), std::process::id())
}
