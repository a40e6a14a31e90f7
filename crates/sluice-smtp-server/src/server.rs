//! Listener, accept loop (with the connection caps of [`crate::admission`]),
//! shared counters and the [`SinkHandle`].

use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use crate::admission::{Admission, Refusal};
use crate::{ReceivedMessage, SinkBehavior, SinkConfig};

/// Entry point; a namespace for [`SmtpSink::start`].
#[derive(Debug)]
pub struct SmtpSink;

impl SmtpSink {
    /// Binds the listener, creates the outbox directory and starts accepting
    /// connections in a background task. Returns once the port is bound, so
    /// clients can connect to [`SinkHandle::local_addr`] right away.
    pub async fn start(config: SinkConfig) -> io::Result<SinkHandle> {
        if let Some(dir) = &config.outbox {
            tokio::fs::create_dir_all(dir).await?;
        }
        let listener = TcpListener::bind(config.listen).await?;
        let local_addr = listener.local_addr()?;
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let shared = Arc::new(Shared::new(config));
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&shared), shutdown_rx));
        tracing::debug!(%local_addr, "smtp sink listening");
        Ok(SinkHandle {
            shared,
            local_addr,
            control: Arc::new(Control {
                shutdown: shutdown_tx,
                task: Mutex::new(Some(task)),
            }),
        })
    }
}

/// Observes and stops a running sink. Clones share the same sink. The sink
/// runs until [`SinkHandle::shutdown`] or until the last clone is dropped, so
/// keep a handle alive for as long as the sink should serve.
#[derive(Clone)]
#[must_use = "the sink stops when its last handle is dropped"]
pub struct SinkHandle {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    control: Arc<Control>,
}

/// Owned by the handles only: dropping the last one drops the sender, which
/// the accept loop and all sessions treat as a shutdown signal.
struct Control {
    shutdown: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for SinkHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SinkHandle")
            .field("local_addr", &self.local_addr)
            .field("count", &self.count())
            .finish_non_exhaustive()
    }
}

impl SinkHandle {
    /// The bound address (with the real port when the config used port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Messages kept in memory (if `keep_in_memory`), in arrival order.
    pub fn messages(&self) -> Vec<ReceivedMessage> {
        lock(&self.shared.messages).clone()
    }

    /// Number of accepted messages (DATA answered 2xx), kept or not.
    pub fn count(&self) -> u64 {
        *self.shared.count.borrow()
    }

    /// Number of recipients of accepted messages (a recipient accepted at
    /// RCPT but whose transaction never completed is not counted).
    pub fn recipients_count(&self) -> u64 {
        self.shared.recipients.load(Ordering::Relaxed)
    }

    /// Number of TCP connections accepted so far (including those refused
    /// as over [`crate::SinkConfig::max_connections`]), to test connection reuse.
    pub fn connections_count(&self) -> u64 {
        self.shared.connections.load(Ordering::Relaxed)
    }

    /// Accepted messages per client IP, to test which source IP Sluice used.
    pub fn source_ips(&self) -> BTreeMap<IpAddr, u64> {
        lock(&self.shared.source_ips).clone()
    }

    /// Waits (without polling) until at least `n` messages were accepted;
    /// returns `false` on timeout. Messages are stored and counted before the
    /// client sees the 250, so [`Self::messages`] already holds them.
    pub async fn wait_for_count(&self, n: u64, timeout: Duration) -> bool {
        let mut rx = self.shared.count.subscribe();
        let reached = async move { rx.wait_for(|c| *c >= n).await.is_ok() };
        tokio::time::timeout(timeout, reached)
            .await
            .unwrap_or(false)
    }

    /// Stops accepting, closes all connections (including hanging ones) and
    /// waits for every connection task to finish, so the port is free after.
    pub async fn shutdown(self) {
        self.control.shutdown.send_replace(true);
        let task = lock(&self.control.task).take();
        if let Some(task) = task
            && let Err(e) = task.await
        {
            tracing::warn!(error = %e, "smtp sink accept task failed");
        }
    }
}

/// State shared by the accept loop, the sessions and the handles.
pub(crate) struct Shared {
    pub(crate) hostname: String,
    pub(crate) outbox: Option<PathBuf>,
    pub(crate) keep_in_memory: bool,
    pub(crate) max_message_bytes: usize,
    pub(crate) max_recipients: usize,
    pub(crate) max_connections: usize,
    pub(crate) max_connections_per_ip: Option<usize>,
    pub(crate) idle_timeout: Duration,
    pub(crate) max_session: Option<Duration>,
    pub(crate) max_errors: usize,
    pub(crate) behavior: Arc<dyn SinkBehavior>,
    /// Pre-rendered EHLO reply; it never changes.
    pub(crate) ehlo_reply: Vec<u8>,
    messages: Mutex<Vec<ReceivedMessage>>,
    /// Accepted-message counter; a watch channel so waiters need no polling.
    count: watch::Sender<u64>,
    recipients: AtomicU64,
    connections: AtomicU64,
    source_ips: Mutex<BTreeMap<IpAddr, u64>>,
    seq: AtomicU64,
}

impl Shared {
    fn new(config: SinkConfig) -> Self {
        let ehlo = crate::Reply::new(
            250,
            format!(
                "{}\nPIPELINING\nSIZE {}\n8BITMIME\nSMTPUTF8\nENHANCEDSTATUSCODES",
                config.hostname, config.max_message_bytes
            ),
        );
        let mut ehlo_reply = Vec::new();
        ehlo.render(&mut ehlo_reply);
        Self {
            hostname: config.hostname,
            outbox: config.outbox,
            keep_in_memory: config.keep_in_memory,
            max_message_bytes: config.max_message_bytes,
            max_recipients: config.max_recipients.max(1),
            max_connections: config.max_connections.clamp(1, Semaphore::MAX_PERMITS),
            max_connections_per_ip: config.max_connections_per_ip.map(|cap| cap.max(1)),
            idle_timeout: config.idle_timeout,
            max_session: config.max_session,
            max_errors: config.max_errors,
            behavior: config.behavior,
            ehlo_reply,
            messages: Mutex::new(Vec::new()),
            count: watch::Sender::new(0),
            recipients: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            source_ips: Mutex::new(BTreeMap::new()),
            seq: AtomicU64::new(0),
        }
    }

    /// When a session that starts now must end, if sessions have a lifetime.
    pub(crate) fn session_deadline(&self) -> Option<Instant> {
        self.max_session
            .and_then(|lifetime| Instant::now().checked_add(lifetime))
    }

    /// A unique id `<unix-millis>-<seq>` for a message received at `at`.
    pub(crate) fn next_id(&self, at: SystemTime) -> String {
        let millis = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        format!("{millis}-{seq:06}")
    }

    /// Records an accepted message; the count is bumped last so that anyone
    /// woken by it sees the message and the other counters already updated.
    pub(crate) fn record(&self, msg: ReceivedMessage) {
        self.recipients
            .fetch_add(msg.rcpt_to.len() as u64, Ordering::Relaxed);
        *lock(&self.source_ips).entry(msg.peer.ip()).or_insert(0) += 1;
        if self.keep_in_memory {
            lock(&self.messages).push(msg);
        }
        self.count.send_modify(|c| *c += 1);
    }
}

/// Writes `data` to `<dir>/<id>.eml` through a hidden temporary file and a
/// rename, so directory watchers never observe a partial message.
pub(crate) async fn write_outbox(dir: &Path, id: &str, data: &[u8]) -> io::Result<PathBuf> {
    let path = dir.join(format!("{id}.eml"));
    let tmp = dir.join(format!(".{id}.eml.tmp"));
    tokio::fs::write(&tmp, data).await?;
    if let Err(e) = tokio::fs::rename(&tmp, &path).await {
        let _ = tokio::fs::remove_file(&tmp).await;
        return Err(e);
    }
    Ok(path)
}

/// Locks ignoring poisoning: the guarded data stays consistent even if a
/// holder panicked, and tests should keep observing it.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Resolves once shutdown was requested or every handle was dropped.
pub(crate) async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut sessions = JoinSet::new();
    // One slot per served connection, held by its task until it ends.
    let admission = Admission::new(shared.max_connections, shared.max_connections_per_ip);
    loop {
        tokio::select! {
            biased;
            () = stopped(&mut shutdown) => break,
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, remote)) => {
                    if let Err(e) = stream.set_nodelay(true) {
                        tracing::debug!(%remote, error = %e, "set TCP_NODELAY failed");
                    }
                    shared.connections.fetch_add(1, Ordering::Relaxed);
                    let slot = match admission.admit(remote.ip()) {
                        Ok(slot) => slot,
                        Err(refusal) => {
                            refuse(stream, remote, refusal);
                            continue;
                        }
                    };
                    let session = crate::session::run(
                        Arc::clone(&shared),
                        stream,
                        remote,
                        shutdown.clone(),
                    );
                    sessions.spawn(async move {
                        session.await;
                        drop(slot);
                    });
                }
                Err(e) => {
                    // Typically EMFILE; back off instead of spinning.
                    tracing::warn!(error = %e, "smtp sink accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
        }
    }
    drop(listener);
    while sessions.join_next().await.is_some() {}
    tracing::debug!("smtp sink stopped");
}

/// Tells a client over a connection cap to come back later with a 421
/// greeting (the reply RFC 5321 section 3.8 gives a server that must close)
/// and closes. Done inline with one
/// non-blocking write into the fresh socket's empty send buffer, so a flood
/// of connections costs no task, no timer and no waiting on slow clients; if
/// the write does not go through, the client just sees the close.
fn refuse(stream: TcpStream, remote: SocketAddr, refusal: Refusal) {
    tracing::debug!(%remote, ?refusal, "over a connection cap, refusing");
    // Back to a std socket (still non-blocking): tokio's own try_write would
    // report "not ready" until the reactor has seen the socket writable.
    if let Ok(mut stream) = stream.into_std() {
        let _ = io::Write::write(&mut stream, refusal.reply());
    }
}
