//! Pooled SMTP sessions per [`RelayTarget`], with a hard cap on connections.
//!
//! Unlike lettre's pooled transport, this pool caps connections for real (a
//! per-target semaphore), binds the source address, and reuses a returned
//! session without a NOOP: a session goes back to the pool only when its last
//! transaction ended cleanly, and if the server closed it while idle, the next
//! MAIL fails and the transaction is retried once on a fresh session.
//! Locks only guard bookkeeping; none is held across network I/O.
//!
//! Transactional mail has its own claim on each target's connections (see
//! [`PoolConfig::reserved_per_target`]): bulk sends never take the last reserved
//! slots, and a freed slot goes to a waiting transactional send before any bulk one
//! (a [`PriorityGate`]). The reserve is taken out of the cap rather than added on top
//! of it, because the cap is a promise to the receiving server; so a cap of 1 reserves
//! nothing, and there an OTP only jumps the queue.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use sluice_gate::PriorityGate;
use sluice_model::MessageStream;
use tokio::task::JoinSet;

use crate::connect::{Connection, connect};
use crate::target::PoolKey;
use crate::transaction::{self, Envelope, Failed, TransactionOutcome};
use crate::{RelayTarget, RelayTrust, SessionTls, SmtpError};

/// Per-step limits. The defaults are RFC 5321 section 4.5.3.2's minimums; a
/// gateway may shorten them (a dead destination then costs less), but every
/// value is configurable because some receivers really are that slow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// DNS lookup and TCP connect, per address (the RFC leaves this open).
    pub connect: Duration,
    /// Initial 220 greeting (RFC: 5 minutes).
    pub greeting: Duration,
    /// EHLO, STARTTLS, AUTH, MAIL, RCPT, RSET, QUIT (RFC: 5 minutes for MAIL and RCPT).
    pub command: Duration,
    /// The 354 reply to DATA (RFC: 2 minutes).
    pub data_init: Duration,
    /// Writing each 64 KiB block of the body (RFC: 3 minutes per send).
    pub data_block: Duration,
    /// The reply to the final dot (RFC: 10 minutes).
    pub data_end: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(30),
            greeting: Duration::from_secs(300),
            command: Duration::from_secs(300),
            data_init: Duration::from_secs(120),
            data_block: Duration::from_secs(180),
            data_end: Duration::from_secs(600),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolConfig {
    /// Hard cap on open connections per target (at least 1).
    pub max_connections_per_target: usize,
    /// Of each target's cap, connections bulk sends leave to transactional ones (at
    /// most the cap minus one, so bulk always has one): an OTP to a relay that bulk
    /// keeps busy starts at once instead of after the bulk sends queued before it.
    pub reserved_per_target: usize,
    /// A session is closed (QUIT) after this many transactions; many
    /// receivers throttle long sessions.
    pub max_messages_per_connection: usize,
    /// Idle sessions older than this are dropped rather than reused: servers
    /// close idle clients anyway (Postfix after 300 s, many far sooner).
    pub idle_timeout: Duration,
    pub timeouts: Timeouts,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            max_connections_per_target: 16,
            reserved_per_target: 1,
            max_messages_per_connection: 100,
            idle_timeout: Duration::from_secs(30),
            timeouts: Timeouts::default(),
        }
    }
}

/// A snapshot for `/metrics` and the admin API.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Sorted by target label.
    pub targets: Vec<TargetStats>,
    /// Sessions opened since the pool was created, all targets.
    pub created_total: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetStats {
    /// `host:port` plus the source address, see [`RelayTarget::label`].
    pub target: String,
    /// Open sessions, idle or in use.
    pub open: usize,
    /// Sends holding one of the target's slots (running or connecting).
    pub in_use: usize,
    pub idle: usize,
    pub created: u64,
}

/// SMTP connection pool; cheap to clone (all clones share one pool).
#[derive(Clone)]
pub struct SmtpPool {
    inner: Arc<Inner>,
}

struct Inner {
    config: PoolConfig,
    trust: RelayTrust,
    targets: Mutex<HashMap<PoolKey, Arc<TargetPool>>>,
    created_total: AtomicU64,
    last_sweep: Mutex<Instant>,
}

struct TargetPool {
    label: String,
    slots: PriorityGate,
    /// Ordered by `since` (pushed at the back, reused from the back), so the
    /// expired ones are at the front.
    idle: Mutex<Vec<Idle>>,
    open: AtomicUsize,
    in_use: AtomicUsize,
    created: AtomicU64,
}

struct Idle {
    session: Pooled,
    since: Instant,
}

/// A session counted in its target's `open` until dropped, however it ends
/// (including when the caller's future is cancelled mid-transaction).
struct Pooled {
    conn: Connection,
    pool: Arc<TargetPool>,
}

impl Drop for Pooled {
    fn drop(&mut self) {
        self.pool.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Counts a send in `in_use` for as long as it runs.
struct Busy<'a>(&'a TargetPool);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.in_use.fetch_sub(1, Ordering::Relaxed);
    }
}

/// QUIT is a courtesy: never wait long for it.
const QUIT_TIMEOUT: Duration = Duration::from_secs(5);

impl std::fmt::Debug for SmtpPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpPool")
            .field("config", &self.inner.config)
            .field("stats", &self.stats())
            .finish()
    }
}

impl SmtpPool {
    pub fn new(config: PoolConfig) -> Self {
        Self::with_trust(config, RelayTrust::default())
    }

    /// A pool whose verified relay sessions also trust `trust`'s extra CA.
    pub fn with_trust(config: PoolConfig, trust: RelayTrust) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                trust,
                targets: Mutex::new(HashMap::new()),
                created_total: AtomicU64::new(0),
                last_sweep: Mutex::new(Instant::now()),
            }),
        }
    }

    /// Runs one SMTP transaction on a pooled session to `target`, waiting for
    /// a free slot first (any slot: as transactional mail, see [`Self::send_as`]).
    /// `Ok` carries one reply per recipient (some may be refusals); `Err` means
    /// no recipient got a reply (see [`SmtpError::is_transient`]). A reused
    /// session found dead at MAIL is replaced once, transparently.
    pub async fn send(
        &self,
        target: &RelayTarget,
        envelope: &Envelope,
        message: &[u8],
    ) -> Result<TransactionOutcome, SmtpError> {
        self.send_as(MessageStream::Transactional, target, envelope, message)
            .await
    }

    /// [`Self::send`] for mail of `stream`: bulk waits while only the target's
    /// reserved slots are free, and transactional sends are served first.
    pub async fn send_as(
        &self,
        stream: MessageStream,
        target: &RelayTarget,
        envelope: &Envelope,
        message: &[u8],
    ) -> Result<TransactionOutcome, SmtpError> {
        if envelope.recipients.is_empty() {
            return Ok(TransactionOutcome {
                recipients: Vec::new(),
                tls: SessionTls::Off,
            });
        }
        let config = &self.inner.config;
        let pool = self.inner.target_pool(target);
        let _slot = pool.slots.acquire(stream).await;
        pool.in_use.fetch_add(1, Ordering::Relaxed);
        let _busy = Busy(&pool);
        self.inner.sweep_if_due();

        let mut idle = pool.take_idle(config.idle_timeout);
        loop {
            let reused = idle.is_some();
            let mut session = match idle.take() {
                Some(session) => session,
                None => self.open(&pool, target).await?,
            };
            let started = Instant::now();
            let result = transaction::run(
                &mut session.conn,
                envelope,
                message,
                &config.timeouts,
                reused,
            )
            .await;
            match result {
                Ok(mut done) => {
                    done.outcome.tls = session.conn.tls.clone();
                    tracing::debug!(
                        relay = %pool.label,
                        reused,
                        recipients = envelope.recipients.len(),
                        delivered = done.outcome.delivered().count(),
                        replies = %summary(&done.outcome),
                        elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                        "smtp transaction"
                    );
                    self.release(
                        &pool,
                        session,
                        done.reusable,
                        target.max_messages_per_connection,
                    )
                    .await;
                    return Ok(done.outcome);
                }
                Err(Failed::Stale(e)) => {
                    tracing::debug!(relay = %pool.label, error = %e,
                        "pooled session was closed by the server, retrying on a fresh one");
                }
                Err(Failed::Broken(e)) => {
                    tracing::debug!(relay = %pool.label, reused, error = %e,
                        "smtp transaction failed");
                    return Err(e);
                }
            }
        }
    }

    /// QUITs and drops every idle session (shutdown). Sessions in use are
    /// closed by their sends as usual.
    pub async fn close_idle(&self) {
        let pools: Vec<Arc<TargetPool>> = lock(&self.inner.targets).values().cloned().collect();
        let mut quits = JoinSet::new();
        for pool in pools {
            let idle: Vec<Idle> = lock(&pool.idle).drain(..).collect();
            for Idle { mut session, .. } in idle {
                quits.spawn(async move {
                    let _ = tokio::time::timeout(QUIT_TIMEOUT, session.conn.inner.quit()).await;
                });
            }
        }
        while quits.join_next().await.is_some() {}
    }

    pub fn stats(&self) -> PoolStats {
        let mut targets: Vec<TargetStats> = lock(&self.inner.targets)
            .values()
            .map(|p| TargetStats {
                target: p.label.clone(),
                open: p.open.load(Ordering::Relaxed),
                in_use: p.in_use.load(Ordering::Relaxed),
                idle: lock(&p.idle).len(),
                created: p.created.load(Ordering::Relaxed),
            })
            .collect();
        targets.sort_by(|a, b| a.target.cmp(&b.target));
        PoolStats {
            targets,
            created_total: self.inner.created_total.load(Ordering::Relaxed),
        }
    }

    async fn open(
        &self,
        pool: &Arc<TargetPool>,
        target: &RelayTarget,
    ) -> Result<Pooled, SmtpError> {
        let conn = connect(target, &self.inner.config.timeouts, &self.inner.trust).await?;
        pool.open.fetch_add(1, Ordering::Relaxed);
        pool.created.fetch_add(1, Ordering::Relaxed);
        self.inner.created_total.fetch_add(1, Ordering::Relaxed);
        Ok(Pooled {
            conn,
            pool: Arc::clone(pool),
        })
    }

    /// Back to the idle list, or QUIT when the session has served its share.
    /// Runs while the caller still holds the slot, so the cap also covers
    /// sessions that are being closed.
    async fn release(
        &self,
        pool: &TargetPool,
        mut session: Pooled,
        reusable: bool,
        own_limit: Option<usize>,
    ) {
        if !reusable {
            return; // dropped: its state is unknown or the server is closing
        }
        let limit = self.inner.config.max_messages_per_connection;
        if session.conn.transactions >= own_limit.map_or(limit, |own| own.min(limit)) {
            let limit = QUIT_TIMEOUT.min(self.inner.config.timeouts.command);
            let _ = tokio::time::timeout(limit, session.conn.inner.quit()).await;
            return;
        }
        lock(&pool.idle).push(Idle {
            session,
            since: Instant::now(),
        });
    }
}

impl Inner {
    fn target_pool(&self, target: &RelayTarget) -> Arc<TargetPool> {
        let cap = self.config.max_connections_per_target.max(1);
        let reserve = self.config.reserved_per_target.min(cap - 1);
        let mut targets = lock(&self.targets);
        let pool = targets.entry(target.pool_key()).or_insert_with(|| {
            Arc::new(TargetPool {
                label: target.label(),
                slots: PriorityGate::new("connection", cap, reserve),
                idle: Mutex::new(Vec::new()),
                open: AtomicUsize::new(0),
                in_use: AtomicUsize::new(0),
                created: AtomicU64::new(0),
            })
        });
        Arc::clone(pool)
    }

    /// At most once per idle timeout: drop expired idle sessions of every
    /// target and forget targets nobody uses, so routing to many MX hosts does
    /// not accumulate sockets or memory.
    fn sweep_if_due(&self) {
        {
            let Ok(mut last) = self.last_sweep.try_lock() else {
                return; // another send is sweeping
            };
            if last.elapsed() < self.config.idle_timeout {
                return;
            }
            *last = Instant::now();
        }
        lock(&self.targets).retain(|_, pool| {
            // Dropping closes the sockets: a syscall each, no network wait.
            drop(pool.expire(self.config.idle_timeout));
            // Sends and sessions hold clones; only the map's reference left
            // means nothing can be waiting on this target's slots.
            Arc::strong_count(pool) > 1
        });
    }
}

impl TargetPool {
    /// The most recently returned live session, dropping expired ones.
    fn take_idle(&self, idle_timeout: Duration) -> Option<Pooled> {
        let expired = self.expire(idle_timeout);
        let session = lock(&self.idle).pop().map(|idle| idle.session);
        drop(expired);
        session
    }

    /// Removes idle sessions older than `idle_timeout`; the caller drops them
    /// (closing their sockets) after releasing the lock.
    fn expire(&self, idle_timeout: Duration) -> Vec<Idle> {
        let mut idle = lock(&self.idle);
        let fresh = idle.partition_point(|i| i.since.elapsed() > idle_timeout);
        idle.drain(..fresh).collect()
    }
}

/// `250,550,451` style summary of the replies, for the debug log.
fn summary(outcome: &TransactionOutcome) -> String {
    let codes: Vec<String> = outcome
        .recipients
        .iter()
        .map(|(_, r)| r.code.to_string())
        .collect();
    codes.join(",")
}

/// Poisoning only means another thread panicked mid-update of plain
/// bookkeeping; the data is still usable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
