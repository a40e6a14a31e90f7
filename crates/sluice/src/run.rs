//! Starting and stopping the roles: the HTTP API and the delivery worker, alone or
//! together, sharing one Redis.

use std::net::SocketAddr;

use anyhow::Context;
use sluice_api::AppState;
use sluice_delivery::worker::{ReturnPaths, Worker};
use sluice_domains::Reverifier;
use sluice_model::DomainName;
use sluice_smtp_client::SmtpPool;
use sluice_store::Store;
use sluice_store::server_check::Requirements;
use sluice_wire::{UnsubscribeCodec, VerpCodec};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::Config;

#[derive(Clone, Copy, Debug)]
pub struct Roles {
    pub api: bool,
    pub worker: bool,
    /// The inbound SMTP listener for DSNs, complaints and unsubscribe mail.
    pub inbound: bool,
    /// The SMTP submission listeners (`[submission]`), when configured.
    pub submission: bool,
}

impl Roles {
    pub const ALL: Roles = Roles {
        api: true,
        worker: true,
        inbound: true,
        submission: true,
    };
    /// The HTTP API alone (`sluice api`).
    pub const API: Roles = Roles {
        api: true,
        worker: false,
        inbound: false,
        submission: false,
    };
    /// The delivery worker alone (`sluice worker`).
    pub const WORKER: Roles = Roles {
        api: false,
        worker: true,
        inbound: false,
        submission: false,
    };
}

/// The running roles of one process.
pub struct Running {
    /// Where the API listens (the real port when the config asked for port 0).
    pub api_addr: Option<SocketAddr>,
    /// Where the inbound SMTP listener listens, when it runs.
    pub inbound_addr: Option<SocketAddr>,
    shutdown: CancellationToken,
    state: Option<AppState>,
    tasks: JoinSet<anyhow::Result<()>>,
    /// Where the metrics-only listener listens (`metrics.listen`), when configured.
    pub metrics_addr: Option<SocketAddr>,
    /// Where the SMTP submission listeners listen (`submission.listen`,
    /// `submission.tls_listen`), when they run.
    pub submission_addr: Option<SocketAddr>,
    pub submission_tls_addr: Option<SocketAddr>,
}

impl Running {
    /// Graceful stop: readiness turns 503, the API stops accepting connections and
    /// finishes the requests it has, the worker finishes its deliveries.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.begin_shutdown();
        self.join().await
    }

    /// Runs until a task ends by itself or `shutdown` is cancelled (then stops gracefully).
    pub async fn wait(mut self, shutdown: CancellationToken) -> anyhow::Result<()> {
        tokio::select! {
            _ = shutdown.cancelled() => {}
            Some(result) = self.tasks.join_next() => {
                self.begin_shutdown();
                result.context("task panicked")??;
            }
        }
        self.stop().await
    }

    fn begin_shutdown(&mut self) {
        if let Some(state) = &self.state {
            state.start_draining();
        }
        self.shutdown.cancel();
    }

    async fn join(&mut self) -> anyhow::Result<()> {
        while let Some(result) = self.tasks.join_next().await {
            result.context("task panicked")??;
        }
        Ok(())
    }
}

/// Connects to Redis and starts the requested roles.
pub async fn start(config: &Config, roles: Roles) -> anyhow::Result<Running> {
    config.validate()?;
    // Before any role records a metric: every process exports what it counts.
    sluice_api::scrape::recorder();
    let worker_config = if roles.worker {
        Some(config.worker_config()?)
    } else {
        None
    };
    // Checked before connecting: without it no DKIM key can be stored or used.
    let sealer = if roles.api || roles.worker {
        Some(config.key_sealer()?)
    } else {
        None
    };
    let mut store = Store::connect_with(&config.redis_url, config.store_options()?)
        .await
        .with_context(|| format!("connecting to Redis at {}", redact(&config.redis_url)))?;
    if let Some(sealer) = sealer {
        store = store.with_key_sealer(sealer);
    }
    // Before anything is accepted or delivered: would Redis keep what we accept?
    let requirements = config.durability_requirements()?;
    let store = check_server(store, &requirements, roles.api || roles.submission).await?;
    let shutdown = CancellationToken::new();
    let mut tasks = JoinSet::new();
    let mut api_addr = None;
    let mut inbound_addr = None;
    let mut state = None;
    // Bound first, so unsubscribe links can name the real port when none is configured.
    let api_listener = if roles.api {
        Some(
            tokio::net::TcpListener::bind(config.listen)
                .await
                .with_context(|| format!("cannot listen on {} (SLUICE_LISTEN)", config.listen))?,
        )
    } else {
        None
    };
    let api_local = match &api_listener {
        Some(listener) => Some(listener.local_addr()?),
        None => None,
    };
    let paths = return_paths(config, &store, api_local).await?;

    if let Some(mut worker_config) = worker_config {
        worker_config.return_paths = Some(paths.clone());
        match config.relay_url.as_deref() {
            Some(url) => {
                tracing::info!(relay = %redact(url), "delivering through the default relay")
            }
            None => tracing::info!(
                mx_port = config.delivery.mx_port,
                "delivering directly to MX hosts"
            ),
        }
        let pool = SmtpPool::with_trust(config.pool_config(), config.relay_trust()?);
        let worker = Worker::new(store.clone(), pool, worker_config)
            .await
            .context("starting the delivery worker")?;
        // Blocklist listings this process finds go to the operator webhook, if any.
        if let Some((url, secret)) = config
            .delivery
            .operator_webhook()
            .map_err(|e| crate::config::keys::refuse(e.within("delivery")))?
        {
            let hook = sluice_events::operator::OperatorWebhook::new(&url, secret.as_deref())
                .context("the operator webhook (delivery.operator_webhook_url)")?;
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            worker.notify_dnsbl_changes(tx);
            let token = shutdown.clone();
            tasks.spawn(async move {
                hook.run(rx, token).await;
                Ok(())
            });
        }
        let token = shutdown.clone();
        tasks.spawn(async move {
            worker.run(token).await;
            Ok(())
        });
        // Events to tenants: feeds, suppressions, webhooks — apart from mail delivery.
        let webhooks = sluice_events::WebhookService::new(store.clone(), config.webhook_config()?)
            .await
            .context("starting the event fan-out and webhook sender")?;
        let token = shutdown.clone();
        tasks.spawn(async move {
            webhooks.run(token).await;
            Ok(())
        });
    }

    if roles.worker {
        // Periodic DNS re-verification of every domain (leased per domain in Redis,
        // so any number of workers share it).
        let reverifier = Reverifier::new(config.domain_verifier()?, store.clone());
        let token = shutdown.clone();
        tasks.spawn(async move {
            reverifier.run(token).await;
            Ok(())
        });
    }

    if roles.inbound && !config.inbound_listen.is_empty() {
        let listen: SocketAddr = config.inbound_listen.parse().with_context(|| {
            format!(
                "invalid configuration: `inbound_listen` (SLUICE_INBOUND_LISTEN) `{}` is not ip:port",
                config.inbound_listen
            )
        })?;
        let handler = sluice_events::inbound::BounceHandler::new(
            store.clone(),
            paths.verp.clone(),
            paths.unsubscribe.clone(),
        );
        let listener = sluice_smtp_server::SmtpSink::start(crate::inbound::listener_config(
            listen,
            &config.hostname,
            config.inbound_limits()?,
            handler,
        ))
        .await
        .with_context(|| format!("cannot listen on {listen} (SLUICE_INBOUND_LISTEN)"))?;
        let addr = listener.local_addr();
        tracing::info!(%addr, bounce_domain = %paths.verp.bounce_domain(), "inbound listener for bounces and complaints");
        let token = shutdown.clone();
        tasks.spawn(async move {
            token.cancelled().await;
            listener.shutdown().await;
            Ok(())
        });
        inbound_addr = Some(addr);
    }

    let (mut submission_addr, mut submission_tls_addr) = (None, None);
    if let Some(listeners) = config.submission_listeners()?.filter(|_| roles.submission) {
        let handles = crate::submission::start(config, &listeners, store.clone()).await?;
        submission_addr = handles.listen.as_ref().map(|h| h.local_addr());
        submission_tls_addr = handles.tls_listen.as_ref().map(|h| h.local_addr());
        let token = shutdown.clone();
        tasks.spawn(async move {
            token.cancelled().await;
            for handle in [handles.listen, handles.tls_listen].into_iter().flatten() {
                handle.shutdown().await;
            }
            Ok(())
        });
    }

    let http_limits = config.http_limits()?;
    if let Some(listener) = api_listener {
        let mut app_state = AppState::new(store.clone(), config.api_settings()?);
        app_state.settings.templates.check().await.context(
            "the template sandbox does not start; `templates.sandbox_command` (SLUICE_TEMPLATES_SANDBOX_COMMAND) must name a sluice executable",
        )?;
        app_state.unsubscribe = Some(std::sync::Arc::new(paths.unsubscribe.clone()));
        let addr = listener.local_addr()?;
        let app = sluice_api::app(app_state.clone());
        let watch = sluice_api::readiness::watch_server(
            store.clone(),
            requirements,
            config.durability_check_interval(),
            app_state.readiness.clone(),
            shutdown.clone().cancelled_owned(),
        );
        tasks.spawn(async move {
            watch.await;
            Ok(())
        });
        let token = shutdown.clone();
        tasks.spawn(async move {
            crate::http_server::serve(listener, app, http_limits, token, "api")
                .await
                .context("HTTP server")
        });
        tracing::info!(%addr, "API listening");
        api_addr = Some(addr);
        state = Some(app_state);
    }
    let metrics_addr = match config.metrics_listen()? {
        Some(listen) => {
            // One sampler per process: the API's, when this process has one.
            let scrape = match &state {
                Some(app_state) => app_state.scrape.clone(),
                None => sluice_api::scrape::Scrape::new(store.clone()),
            };
            Some(start_metrics_listener(listen, scrape, http_limits, &shutdown, &mut tasks).await?)
        }
        None => None,
    };
    Ok(Running {
        api_addr,
        inbound_addr,
        shutdown,
        state,
        tasks,
        metrics_addr,
        submission_addr,
        submission_tls_addr,
    })
}

/// Refuses to go on when the Redis server could lose what Sluice accepts (an evicting
/// `maxmemory-policy`, or less persistence than `durability.mode` asks for), and sets
/// up the replica acknowledgement of `durability.mode = replicas` where mail is
/// accepted (`accepts`).
async fn check_server(
    store: Store,
    requirements: &Requirements,
    accepts: bool,
) -> anyhow::Result<Store> {
    let report = store
        .server_report()
        .await
        .context("reading the Redis server's settings (INFO, CONFIG GET appendfsync)")?;
    let warnings = requirements
        .check(&report)
        .map_err(crate::config::startup_refusal)?;
    for warning in warnings {
        tracing::warn!("{warning}");
    }
    tracing::info!(
        durability = requirements.durability.name(),
        redis_version = %report.version,
        maxmemory_policy = %report.maxmemory_policy,
        appendonly = report.aof_enabled,
        appendfsync = report.appendfsync.as_deref().unwrap_or("unknown"),
        replicas = report.connected_replicas,
        "Redis settings checked"
    );
    match requirements.replica_ack(&report).filter(|_| accepts) {
        Some(ack) => store
            .with_replica_ack(ack)
            .await
            .context("opening the connections that wait for replicas"),
        None => Ok(store),
    }
}

/// The `metrics.listen` listener: `/metrics` only, without authentication.
async fn start_metrics_listener(
    listen: SocketAddr,
    scrape: sluice_api::scrape::Scrape,
    limits: crate::http_server::HttpLimits,
    shutdown: &CancellationToken,
    tasks: &mut JoinSet<anyhow::Result<()>>,
) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen} (SLUICE_METRICS_LISTEN)"))?;
    let addr = listener.local_addr()?;
    let ip = addr.ip();
    if ip.is_unspecified() || sluice_model::net::is_public(ip) {
        tracing::warn!(%addr, "metrics.listen serves /metrics without authentication on a public or wildcard address");
    }
    let router = sluice_api::routes::metrics::standalone(scrape);
    let token = shutdown.clone();
    tasks.spawn(async move {
        crate::http_server::serve(listener, router, limits, token, "metrics")
            .await
            .context("metrics listener")
    });
    tracing::info!(%addr, "metrics listening");
    Ok(addr)
}

/// VERP return paths and unsubscribe links, keyed by `secret_key` (or the key
/// generated once in Redis) and named after `bounce_domain` and `public_url`.
async fn return_paths(
    config: &Config,
    store: &Store,
    api_local: Option<SocketAddr>,
) -> anyhow::Result<ReturnPaths> {
    let secret = match &config.secret_key {
        Some(key) if key.len() < 32 => anyhow::bail!(
            "invalid configuration: `secret_key` (SLUICE_SECRET_KEY) must be at least 32 characters"
        ),
        Some(key) => key.clone(),
        None => store
            .generated_secret()
            .await
            .context("reading the generated secret key from Redis")?,
    };
    let domain = config.bounce_domain.as_deref().unwrap_or(&config.hostname);
    let domain = DomainName::parse(domain).map_err(|e| {
        anyhow::anyhow!(
            "invalid configuration: `bounce_domain` (SLUICE_BOUNCE_DOMAIN) `{domain}`: {e}"
        )
    })?;
    let public_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", api_local.unwrap_or(config.listen)));
    Ok(ReturnPaths {
        verp: VerpCodec::new(secret.as_bytes(), domain),
        unsubscribe: UnsubscribeCodec::new(secret.as_bytes()),
        public_url: public_url.trim_end_matches('/').to_string(),
    })
}

/// A URL with its password replaced, for logs and error messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Resolves when SIGINT (Ctrl-C) or SIGTERM arrives.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutdown requested");
}

/// Spawns the signal listener, returning the token it cancels.
pub fn cancel_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let child = token.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        child.cancel();
    });
    token
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("smtp://user:secret@relay.test:587"),
            "smtp://user:***@relay.test:587"
        );
        assert_eq!(redact("redis://127.0.0.1:6379/"), "redis://127.0.0.1:6379/");
    }
}
