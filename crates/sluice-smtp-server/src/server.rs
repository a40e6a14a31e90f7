//! Listener, accept loop (with the connection caps of [`crate::admission`]) and
//! the [`SinkHandle`]; the state they share with the sessions is [`crate::shared`].

use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::admission::{Admission, Refusal};
use crate::shared::{Shared, lock, stopped};
use crate::{ReceivedMessage, SinkConfig};

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
