//! The delivery worker: reads the queues (transactional first), builds, signs and
//! relays each message, and records the outcome atomically with the acknowledgement.
//!
//! Concurrency is `concurrency` slots: a slot is taken before an entry is read, so a
//! worker never holds more entries than it can work on, and the rest stay in Redis
//! for other worker processes. Part of the slots is held back for transactional mail
//! and read by a lane of its own ([`reserve`]); the cores that sign and the
//! connections to each destination likewise serve transactional mail first (see
//! `build_and_sign`, `shaping`, and the SMTP pool). Side loops move due retries back to
//! their stream and keep this process's liveness key fresh; the [`recovery`] loop
//! takes over the entries of stopped processes and retries entries this one lost
//! track of.
//!
//! Every entry this process holds is in its `owned` set from the moment Redis hands
//! it over until its attempt is settled (or the attempt gave up and the entry is
//! left for [`recovery`] to retry). Recording an attempt is retried until Redis takes
//! it — sending the message again would be worse — and is never cut short by the
//! drain timeout: only the SMTP side of an attempt is aborted.

mod attempt;
mod dispatch;
mod hold;
mod outcome;
mod recovery;
mod requeue;
mod reserve;
mod return_path;
mod sandbox;
mod settle;
mod shaping;
mod signers;
mod suppression;
mod suspended;
mod tls;
mod waiting;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sluice_domains::ResolverConfig;
use sluice_gate::PriorityGate;
use sluice_model::MessageStream;
use sluice_smtp_client::SmtpPool;
use sluice_store::{Queue, QueueEntry, Store, StoreError};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::dnsbl::{DnsblSettings, Listings, Watcher};
use crate::providers::ProviderTable;
use crate::retry::RetryPolicy;
use crate::routing::{ConfigError, MxResolver, RouteError, Router, RouterConfig};
use crate::tls_policy::report::{ReportSender, TlsRecorder};
use crate::tls_policy::{MtaSts, TlsPolicyConfig, fetch};
use dispatch::Dispatcher;
pub use outcome::{AttemptResult, RecipientOutcome, settle_attempt};
pub use recovery::DEFAULT_LIVENESS_TTL;
pub use reserve::default_reserve;
pub use return_path::ReturnPaths;
pub use shaping::{AdaptiveConfig, Source, SourcePool, WarmupSchedule};
use signers::SignerCache;
use waiting::WaitLists;

/// Deliveries in flight at once per process unless configured (`workers`).
pub const DEFAULT_CONCURRENCY: usize = 64;
/// How long held bulk mail waits between checks unless configured.
pub const DEFAULT_REPUTATION_HOLD: Duration = Duration::from_secs(300);
/// At shutdown, how long in-flight deliveries may take unless configured.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// Deliveries in flight at once in this process (SLUICE_WORKERS).
    pub concurrency: usize,
    /// Of `concurrency`, the slots bulk leaves to transactional mail (half of them
    /// lent to bulk while no transactional mail is in flight; see [`reserve`]).
    pub transactional_reserve: usize,
    /// Connections to each destination bulk leaves to transactional mail, out of the
    /// destination's cap (never all of it).
    pub reserved_connections: usize,
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
    /// How long bulk mail of a tenant paused by the reputation guard waits before it
    /// is looked at again (`reputation.hold_interval`); a resume releases it at once.
    pub reputation_hold: Duration,
    /// MTA-STS and TLS-RPT (`delivery.mta_sts*`, `delivery.tls_*`).
    pub tls_policy: TlsPolicyConfig,
    /// The DNS blocklists the pools' addresses are watched on (`delivery.dnsbl`).
    pub dnsbl: DnsblSettings,
}

impl WorkerConfig {
    pub fn new(router: RouterConfig, resolver: ResolverConfig) -> Self {
        Self {
            concurrency: DEFAULT_CONCURRENCY,
            transactional_reserve: default_reserve(DEFAULT_CONCURRENCY),
            reserved_connections: 1,
            consumer: sluice_store::consumer::unique_consumer_name(""),
            router,
            resolver,
            pools: Vec::new(),
            return_paths: None,
            stream_pools: Vec::new(),
            providers: ProviderTable::builtin(),
            adaptive: AdaptiveConfig::default(),
            retry: RetryPolicy::default(),
            liveness_ttl: DEFAULT_LIVENESS_TTL,
            promote_interval: Duration::from_secs(1),
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            reputation_hold: DEFAULT_REPUTATION_HOLD,
            tls_policy: TlsPolicyConfig::default(),
            dnsbl: DnsblSettings::default(),
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
    /// The MTA-STS HTTPS client could not be built (an unusable
    /// `delivery.tls_extra_roots`).
    #[error("MTA-STS client: {0}")]
    TlsPolicy(String),
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
    /// Signing is CPU-bound: at most one signing job per core runs on the blocking
    /// pool, transactional jobs first.
    cpu: PriorityGate,
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
    /// Sends the daily TLS-RPT reports (when `delivery.tls_rpt` is on).
    report_sender: Option<ReportSender>,
    /// The blocklist listings the shaper honours (followed from Redis), and the
    /// lookups this process runs when it holds the lease; `None` without blocklists.
    listings: Arc<Listings>,
    dnsbl: Option<Watcher>,
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
        let resolver = sluice_domains::resolver::build_resolver(
            &config.resolver,
            sluice_domains::resolver::Caching::FollowTtl,
        )
        .map_err(|e| RouteError::from(ConfigError::from(e)))?;
        let tls_config = &config.tls_policy;
        let client = fetch::http_client(
            resolver.clone(),
            config.resolver.allow_private,
            &tls_config.extra_roots,
            tls_config.fetch_timeout,
        )
        .map_err(|e| WorkerError::TlsPolicy(e.to_string()))?;
        let fetcher = fetch::Fetcher::new(resolver, client, tls_config.port);
        let report_sender = tls_config.tls_rpt.clone().map(|identity| ReportSender {
            fetcher: fetcher.clone(),
            store: store.clone(),
            identity,
            owner: config.consumer.clone(),
            mail: tls_config.report_mail.clone(),
        });
        let tls = tls::TlsPolicy {
            sts: MtaSts::new(fetcher, store.clone(), tls_config.mta_sts),
            recorder: TlsRecorder::new(store.clone(), tls_config.tls_rpt.is_some()),
        };
        let listings = Arc::new(Listings::new(config.dnsbl.zones.clone()));
        let dnsbl = if config.dnsbl.zones.is_empty() {
            None
        } else {
            let sources = config
                .pools
                .iter()
                .flat_map(|(_, sources)| sources.iter().map(|s| s.ip))
                .collect();
            Some(
                Watcher::new(
                    store.clone(),
                    &config.resolver,
                    config.dnsbl.clone(),
                    config.consumer.clone(),
                    sources,
                )
                .map_err(crate::routing::ConfigError::from)
                .map_err(RouteError::from)?,
            )
        };
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
                config.reserved_connections,
                listings.clone(),
            )),
            tls,
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
                cpu: PriorityGate::new("cpu", cores, 0),
                owned: Mutex::new(HashMap::new()),
                settling: TaskTracker::new(),
                stop_settling: CancellationToken::new(),
                waitlists,
                freed_slots: Mutex::new(Some(freed_slots)),
                report_sender,
                listings,
                dnsbl,
            }),
        })
    }

    /// Runs until `shutdown` is cancelled, then stops reading, lets in-flight
    /// deliveries finish (up to the drain timeout), waits for their settle calls, and
    /// hands back what it could not finish: its liveness key says `gone`, so another
    /// worker takes the entries over at once.
    pub async fn run(self, shutdown: CancellationToken) {
        let config = &self.inner.config;
        let slots = reserve::Slots::new(config.concurrency, config.transactional_reserve);
        let (found_tx, mut found_rx) = mpsc::channel::<QueueEntry>(recovery::FOUND_CAPACITY);
        let mut side_loops = JoinSet::new();
        side_loops.spawn(self.clone().promote_loop(shutdown.clone()));
        // Liveness outlasts the drain: a draining process still owns its deliveries.
        let liveness_stop = CancellationToken::new();
        let liveness = tokio::spawn(self.clone().liveness_loop(liveness_stop.clone()));
        side_loops.spawn(self.clone().recovery_loop(found_tx, shutdown.clone()));
        if let Some(sender) = self.inner.report_sender.clone() {
            let every = config.tls_policy.report_check;
            side_loops.spawn(sender.run(every, shutdown.clone()));
        }
        let freed_slots = self
            .inner
            .freed_slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(freed_slots) = freed_slots {
            side_loops.spawn(self.clone().release_loop(freed_slots, shutdown.clone()));
        }
        side_loops.spawn(suspended::prune_loop(
            self.inner.dispatcher.shaper.suspended.clone(),
            shutdown.clone(),
        ));
        if self.inner.dnsbl.is_some() {
            side_loops.spawn(crate::dnsbl::follow(
                self.inner.store.clone(),
                self.inner.listings.clone(),
                shutdown.clone(),
            ));
            let worker = self.clone();
            let token = shutdown.clone();
            side_loops.spawn(async move {
                if let Some(watcher) = &worker.inner.dnsbl {
                    watcher.run(token).await;
                }
            });
        }
        let lane = slots.has_reserve().then(|| {
            tokio::spawn(
                self.clone()
                    .transactional_lane(slots.clone(), shutdown.clone()),
            )
        });
        tracing::info!(
            consumer = %config.consumer,
            concurrency = config.concurrency,
            transactional_reserve = config.transactional_reserve,
            "delivery worker started"
        );

        let mut deliveries = JoinSet::new();
        while !shutdown.is_cancelled() {
            let held = tokio::select! {
                held = slots.take_for_reading() => held,
                () = shutdown.cancelled() => break,
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
                    // An entry recovery has just taken (it sat read ahead for a
                    // while) is already on its way: never twice.
                    Ok(batch) => entries = batch.into_iter().filter(|e| self.own(e)).collect(),
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
            self.start_deliveries(&mut deliveries, entries, held, &slots);
        }
        let mut all = vec![deliveries];
        if let Some(lane) = lane {
            match lane.await {
                Ok(lane) => all.push(lane),
                Err(e) => tracing::error!(error = %e, "the transactional lane panicked"),
            }
        }
        let in_flight = |all: &[JoinSet<()>]| all.iter().map(JoinSet::len).sum::<usize>();
        tracing::info!(in_flight = in_flight(&all), "worker draining");
        if tokio::time::timeout(config.drain_timeout, async {
            for deliveries in &mut all {
                while deliveries.join_next().await.is_some() {}
            }
        })
        .await
        .is_err()
        {
            tracing::warn!(
                left = in_flight(&all),
                "drain timeout: handing unfinished deliveries back to other workers"
            );
            for deliveries in &mut all {
                deliveries.abort_all();
                while deliveries.join_next().await.is_some() {}
            }
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

    async fn process(self, entry: QueueEntry, _slot: reserve::Slot) {
        if let Err(e) = self.deliver(&entry).await {
            // The entry stays pending on this consumer; `recovery` retries it shortly.
            tracing::warn!(message = %entry.message_id, error = %e, "delivery attempt not finished; retrying shortly");
        }
        self.disown(&entry);
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

    /// Every listing that begins or ends in a blocklist round this process runs is
    /// sent to `tx` (the operator webhook); nothing without `delivery.dnsbl`.
    pub fn notify_dnsbl_changes(
        &self,
        tx: mpsc::UnboundedSender<sluice_store::dnsbl::DnsblChange>,
    ) {
        if let Some(watcher) = &self.inner.dnsbl {
            watcher.notify(tx);
        }
    }

    /// Queue depth, for readiness and metrics.
    pub async fn depth(&self) -> Result<sluice_store::QueueDepth, StoreError> {
        self.inner.queue.depth().await
    }
}

/// Entry ids are per stream: the same id can name entries of two partitions.
fn owned_key(entry: &QueueEntry) -> String {
    format!(
        "{}|{}|{}",
        entry.partition,
        entry.stream.as_str(),
        entry.entry_id
    )
}
