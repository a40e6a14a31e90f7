//! The state the accept loop, the sessions and the [`crate::SinkHandle`]s share:
//! the limits taken from [`SinkConfig`], the counters and the kept messages, plus
//! the outbox writer and the shutdown signal every task waits on.

use std::collections::BTreeMap;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;

use crate::{ReceivedMessage, SinkBehavior, SinkConfig, TlsMode};

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
    /// The EHLO reply's lines before any STARTTLS or AUTH line.
    ehlo_text: String,
    /// The EHLO reply pre-rendered for sessions that are offered neither STARTTLS
    /// nor AUTH (the sink and the inbound listener): most of them.
    pub(crate) ehlo_reply: Vec<u8>,
    pub(crate) tls: Option<TlsMode>,
    pub(crate) max_auth_failures: usize,
    pub(crate) loopback_clear_text_auth: bool,
    pub(crate) messages: Mutex<Vec<ReceivedMessage>>,
    /// Accepted-message counter; a watch channel so waiters need no polling.
    pub(crate) count: watch::Sender<u64>,
    pub(crate) recipients: AtomicU64,
    pub(crate) connections: AtomicU64,
    pub(crate) source_ips: Mutex<BTreeMap<IpAddr, u64>>,
    seq: AtomicU64,
}

impl Shared {
    pub(crate) fn new(config: SinkConfig) -> Self {
        let ehlo_text = format!(
            "{}\nPIPELINING\nSIZE {}\n8BITMIME\nSMTPUTF8\nENHANCEDSTATUSCODES",
            config.hostname, config.max_message_bytes
        );
        let mut ehlo_reply = Vec::new();
        crate::Reply::new(250, ehlo_text.clone()).render(&mut ehlo_reply);
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
            ehlo_text,
            ehlo_reply,
            tls: config.tls,
            max_auth_failures: config.max_auth_failures,
            loopback_clear_text_auth: config.loopback_clear_text_auth,
            messages: Mutex::new(Vec::new()),
            count: watch::Sender::new(0),
            recipients: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            source_ips: Mutex::new(BTreeMap::new()),
            seq: AtomicU64::new(0),
        }
    }

    /// Renders the EHLO reply into `out`, with STARTTLS and AUTH lines when they
    /// are offered to this session.
    pub(crate) fn render_ehlo(&self, out: &mut Vec<u8>, starttls: bool, auth: bool) {
        if !starttls && !auth {
            out.extend_from_slice(&self.ehlo_reply);
            return;
        }
        let mut text = self.ehlo_text.clone();
        if starttls {
            text.push_str("\nSTARTTLS");
        }
        if auth {
            text.push_str("\nAUTH PLAIN LOGIN");
        }
        crate::Reply::new(250, text).render(out);
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
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Resolves once shutdown was requested or every handle was dropped.
pub(crate) async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}
