//! Blocklist watch: every source address of every pool is looked up on each
//! configured DNS blocklist (`[[delivery.dnsbl]]`) once per `delivery.dnsbl_interval`,
//! by one worker process at a time across the installation (a Redis lease that is
//! never released early, so a dead holder costs one round at most).
//!
//! A round's results go to Redis in one call (`Store::record_dnsbl_round`), which
//! tells which listings began or ended; each change is logged, counted, and handed to
//! whoever subscribed ([`Watcher::notify`]: the operator webhook). Every worker
//! process follows the listings in Redis ([`follow`]) and its shaper leaves a listed
//! address out of rotation for the providers the listing applies to.
//!
//! A refused query (127.255.255.x: Spamhaus answers so to public resolvers) or a
//! failed lookup is reported (log, `sluice_dnsbl_checks_total{result}`, the admin
//! view) and changes nothing: an address is neither listed nor delisted on no news.

pub mod view;
pub mod zone;

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::proto::rr::Name;
use sluice_domains::resolver::{Caching, DnsAnswer, ResolverConfig, ResolverError, build_resolver};
use sluice_store::Store;
use sluice_store::dnsbl::{DnsblChange, DnsblChangeKind, DnsblCheck, DnsblResult};
use time::OffsetDateTime;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use view::Listings;
pub use zone::{DnsblZone, Verdict};

/// The default `delivery.dnsbl_interval`.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(300);

/// Lookups in flight at once during a round.
const CONCURRENT_LOOKUPS: usize = 16;

/// How often each worker process re-reads the listings from Redis.
pub const FOLLOW_EVERY: Duration = Duration::from_secs(1);

/// The blocklists and how often they are asked.
#[derive(Clone, Debug)]
pub struct DnsblSettings {
    pub zones: Vec<DnsblZone>,
    pub interval: Duration,
}

impl Default for DnsblSettings {
    fn default() -> Self {
        Self {
            zones: Vec::new(),
            interval: DEFAULT_INTERVAL,
        }
    }
}

/// Runs the rounds this process wins the lease for.
pub struct Watcher {
    store: Store,
    resolver: TokioResolver,
    settings: DnsblSettings,
    /// This process's name on the lease (its consumer name).
    holder: String,
    /// Every source address of every pool, once.
    sources: Vec<IpAddr>,
    changes: Mutex<Option<mpsc::UnboundedSender<DnsblChange>>>,
}

impl Watcher {
    /// A watcher asking the name servers of `resolver` (`delivery.dns_servers`),
    /// without caching: each round sees the blocklist as it is.
    pub fn new(
        store: Store,
        resolver: &ResolverConfig,
        settings: DnsblSettings,
        holder: String,
        mut sources: Vec<IpAddr>,
    ) -> Result<Self, ResolverError> {
        sources.sort_unstable();
        sources.dedup();
        Ok(Self {
            store,
            resolver: build_resolver(resolver, Caching::Off)?,
            settings,
            holder,
            sources,
            changes: Mutex::new(None),
        })
    }

    /// Every listing that begins or ends in a round this process runs is sent to `tx`.
    pub fn notify(&self, tx: mpsc::UnboundedSender<DnsblChange>) {
        *self.changes.lock().unwrap_or_else(|e| e.into_inner()) = Some(tx);
    }

    /// Tries for the lease a few times per interval; runs a round whenever it wins.
    pub async fn run(&self, shutdown: CancellationToken) {
        if self.settings.zones.is_empty() || self.sources.is_empty() {
            return;
        }
        let interval = self.settings.interval;
        let poll = (interval / 4).clamp(Duration::from_millis(100), Duration::from_secs(15));
        while !shutdown.is_cancelled() {
            match self.store.take_dnsbl_lease(&self.holder, interval).await {
                Ok(true) => {
                    // A round never outlasts its lease: the next holder would overlap.
                    match tokio::time::timeout(interval, self.round()).await {
                        Ok(Ok(changes)) => self.announce(changes),
                        Ok(Err(e)) => {
                            tracing::warn!(error = %e, "could not record the blocklist round")
                        }
                        Err(_) => tracing::warn!(
                            ?interval,
                            "blocklist lookups took longer than dnsbl_interval; round abandoned"
                        ),
                    }
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "could not take the blocklist lease"),
            }
            tokio::select! {
                () = tokio::time::sleep(poll) => {}
                () = shutdown.cancelled() => {}
            }
        }
    }

    /// Looks every (source × zone) up and records the results.
    async fn round(&self) -> Result<Vec<DnsblChange>, sluice_store::StoreError> {
        let gate = Arc::new(Semaphore::new(CONCURRENT_LOOKUPS));
        let mut lookups = JoinSet::new();
        for ip in &self.sources {
            for zone in &self.settings.zones {
                let (ip, zone, gate) = (*ip, zone.clone(), gate.clone());
                let resolver = self.resolver.clone();
                lookups.spawn(async move {
                    let _permit = gate.acquire_owned().await;
                    check(&resolver, ip, &zone).await
                });
            }
        }
        let mut checks = Vec::with_capacity(lookups.len());
        while let Some(joined) = lookups.join_next().await {
            if let Ok(check) = joined {
                report(&check);
                checks.push(check);
            }
        }
        self.store.record_dnsbl_round(&self.holder, &checks).await
    }

    fn announce(&self, changes: Vec<DnsblChange>) {
        let tx = self
            .changes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for change in changes {
            let listing = &change.listing;
            let event = change.kind.event_type();
            metrics::counter!("sluice_dnsbl_changes_total", "event" => event).increment(1);
            match change.kind {
                DnsblChangeKind::Listed => tracing::warn!(
                    ip = %listing.ip, zone = %listing.zone, answer = %listing.answer, event,
                    "source address listed on a DNS blocklist: out of rotation"
                ),
                DnsblChangeKind::Delisted => tracing::info!(
                    ip = %listing.ip, zone = %listing.zone, event,
                    "source address no longer listed: back in rotation"
                ),
            }
            if let Some(tx) = &tx {
                let _ = tx.send(change);
            }
        }
    }
}

/// Re-reads the listings into `listings` every [`FOLLOW_EVERY`] until `shutdown`
/// (a failed read keeps the last ones).
pub async fn follow(store: Store, listings: Arc<Listings>, shutdown: CancellationToken) {
    while !shutdown.is_cancelled() {
        match store.dnsbl_listings().await {
            Ok(current) => listings.replace(&current),
            Err(e) => tracing::debug!(error = %e, "could not read the blocklist listings"),
        }
        tokio::select! {
            () = tokio::time::sleep(FOLLOW_EVERY) => {}
            () = shutdown.cancelled() => {}
        }
    }
}

/// One lookup of `ip` on `zone`, classified.
async fn check(resolver: &TokioResolver, ip: IpAddr, zone: &DnsblZone) -> DnsblCheck {
    let name = zone.query_name(ip);
    let verdict = match Name::from_ascii(format!("{name}.")) {
        Err(e) => Verdict::Failed(format!("{name} is not a DNS name: {e}")),
        Ok(fqdn) => match DnsAnswer::from_result(resolver.ipv4_lookup(fqdn).await) {
            DnsAnswer::Records(lookup) => {
                let answers: Vec<_> = lookup
                    .answers()
                    .iter()
                    .filter_map(|r| match r.data.ip_addr() {
                        Some(IpAddr::V4(v4)) => Some(v4),
                        _ => None,
                    })
                    .collect();
                zone.classify(&answers)
            }
            DnsAnswer::NoData | DnsAnswer::NxDomain => Verdict::NotListed,
            DnsAnswer::Failed(reason) => Verdict::Failed(reason),
        },
    };
    let (result, answer, error) = match verdict {
        Verdict::Listed(a) => (DnsblResult::Listed, Some(a.to_string()), None),
        Verdict::NotListed => (DnsblResult::NotListed, None, None),
        Verdict::Refused(a) => (DnsblResult::Refused, Some(a.to_string()), None),
        Verdict::Failed(reason) => (DnsblResult::Error, None, Some(reason)),
    };
    DnsblCheck {
        ip: ip.to_string(),
        zone: zone.zone.clone(),
        result,
        answer,
        error,
        checked_at: OffsetDateTime::now_utc(),
    }
}

/// Counts every check; a refused or failed one is also logged (it is not a listing,
/// but the watch is blind on that zone until it is fixed).
fn report(check: &DnsblCheck) {
    let result = match check.result {
        DnsblResult::Listed => "listed",
        DnsblResult::NotListed => "not_listed",
        DnsblResult::Refused => "refused",
        DnsblResult::Error => "error",
    };
    metrics::counter!("sluice_dnsbl_checks_total", "zone" => check.zone.clone(), "result" => result)
        .increment(1);
    match check.result {
        DnsblResult::Refused => tracing::warn!(
            ip = %check.ip, zone = %check.zone, answer = check.answer.as_deref().unwrap_or(""),
            "the blocklist refused the query (127.255.255.x: a public or unregistered resolver, or too many queries); not a listing"
        ),
        DnsblResult::Error => tracing::warn!(
            ip = %check.ip, zone = %check.zone, error = check.error.as_deref().unwrap_or(""),
            "blocklist lookup failed; nothing changes until it works"
        ),
        DnsblResult::Listed | DnsblResult::NotListed => {}
    }
}
