//! The SMTP submission listeners as the binary wires them: `[submission]`'s
//! addresses, certificate and limits around [`sluice_submission::Submission`],
//! which checks and accepts with the API's settings.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use sluice_smtp_server::{SinkConfig, SinkHandle, SmtpSink, TlsMode};
use sluice_store::Store;
use sluice_submission::{Submission, SubmissionSettings};

use crate::config::{Config, SubmissionListeners};

/// The running listeners: STARTTLS (or loopback clear text) and implicit TLS.
pub struct SubmissionHandles {
    pub listen: Option<SinkHandle>,
    pub tls_listen: Option<SinkHandle>,
}

/// Starts the listeners that `[submission]` asks for.
pub async fn start(
    config: &Config,
    listeners: &SubmissionListeners,
    store: Store,
) -> anyhow::Result<SubmissionHandles> {
    let settings = SubmissionSettings {
        quotas: config.quotas,
        require_verified: config.require_verified(),
    };
    let behavior = Arc::new(Submission::new(store, settings));
    let sink = |listen: SocketAddr, tls: Option<TlsMode>| SinkConfig {
        listen,
        hostname: config.hostname.clone(),
        outbox: None,
        keep_in_memory: false,
        max_message_bytes: config.max_message_bytes,
        max_recipients: sluice_model::Limits::default().max_recipients,
        max_connections: listeners.max_connections,
        max_connections_per_ip: Some(listeners.max_connections_per_ip),
        idle_timeout: listeners.command_timeout,
        max_session: Some(listeners.max_session),
        max_auth_failures: listeners.max_auth_failures,
        behavior: behavior.clone(),
        tls,
        ..SinkConfig::default()
    };
    let listen = match listeners.listen {
        Some(addr) => {
            let tls = listeners.tls.clone().map(TlsMode::StartTls);
            let handle = SmtpSink::start(sink(addr, tls))
                .await
                .with_context(|| format!("cannot listen on {addr} (SLUICE_SUBMISSION_LISTEN)"))?;
            tracing::info!(addr = %handle.local_addr(), starttls = listeners.tls.is_some(), "SMTP submission listening");
            Some(handle)
        }
        None => None,
    };
    let tls_listen = match (listeners.tls_listen, &listeners.tls) {
        (Some(addr), Some(tls)) => {
            let handle = SmtpSink::start(sink(addr, Some(TlsMode::Implicit(tls.clone()))))
                .await
                .with_context(|| {
                    format!("cannot listen on {addr} (SLUICE_SUBMISSION_TLS_LISTEN)")
                })?;
            tracing::info!(addr = %handle.local_addr(), "SMTP submission listening (implicit TLS)");
            Some(handle)
        }
        _ => None,
    };
    Ok(SubmissionHandles { listen, tls_listen })
}
