//! The event pipeline: what happens to a message's events once the store has them,
//! and how reports that come back from the internet become events.
//!
//! - [`fanout`]: reads the event stream (every event of every message, written in the
//!   same atomic call that changed the message), copies each event to its tenant's
//!   feed (`GET /v1/events`), applies the [`suppression`] policy, and schedules one
//!   webhook delivery per subscribed endpoint — then acknowledges. At-least-once: a
//!   crash before the acknowledgement repeats the batch, which the feed and the
//!   schedule absorb.
//! - [`suppression`]: which events put their recipient on the suppression list (hard
//!   bounces about the address, complaints, unsubscribes).
//! - [`inbound`]: what a DSN, a complaint report or an unsubscribe mail received on
//!   the bounce domain turns into — events on the message it is about, for the
//!   recipients its VERP token vouches for. The binary binds the SMTP listener
//!   (`sluice-smtp-server`) and hands it [`inbound::BounceHandler`]; the wire formats
//!   themselves are parsed by `sluice-wire`.
//! - [`sender`]: claims due deliveries from the schedule shared by every process
//!   (a lease per delivery, a cap per endpoint), POSTs them signed per Standard
//!   Webhooks, records every attempt, retries on [`RetrySchedule`], and disables an
//!   endpoint that keeps failing.
//! - [`ssrf`]: what a webhook URL may point at.
//! - [`operator`]: the operator webhook (`ip.listed` / `ip.delisted` from the
//!   blocklist watch), POSTed to the URL in the configuration.
//!
//! The fan-out and the sender run in every worker process, apart from message
//! delivery (their own tasks, connections and concurrency), so webhooks never slow
//! mail down and a dead endpoint never slows another endpoint down.
//!
//! Metrics: `sluice_webhook_attempts_total{outcome}` (`delivered`, `http_error`,
//! `timeout`, `connect_error`, `blocked`, `error`), `sluice_webhook_gave_up_total`,
//! `sluice_webhook_endpoints_disabled_total`, `sluice_webhook_delivery_latency_seconds`
//! (event → 2xx), `sluice_webhook_request_seconds`, `sluice_events_fanned_out_total`,
//! `sluice_webhook_deliveries_scheduled_total`, `sluice_event_fanout_lag_seconds`
//! (event → fanned out), `sluice_event_backlog` (events not yet fanned out) and
//! `sluice_webhook_endpoints_pending` (endpoints with scheduled deliveries).

pub mod config;
pub mod fanout;
pub mod inbound;
pub mod operator;
mod outcome_counts;
pub mod reputation;
pub mod retry;
pub mod sender;
pub mod ssrf;
pub mod suppression;

use std::sync::Arc;
use std::time::Duration;

use sluice_store::{Store, StoreError};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub use config::WebhooksConfig;
pub use retry::RetrySchedule;
pub use sender::install_tls_provider;
pub use ssrf::{UrlError, is_public, parse_url};

#[derive(Clone, Debug)]
pub struct WebhookConfig {
    /// Delays between attempts (`webhooks.retry_schedule`).
    pub retry: RetrySchedule,
    /// An endpoint failing without a single success for this long is disabled
    /// (`webhooks.disable_after`, default 5 days).
    pub disable_after: Duration,
    /// Per request, connecting included (`webhooks.timeout`, default 10 s).
    pub request_timeout: Duration,
    /// Requests in flight to one endpoint, across all processes
    /// (`webhooks.max_in_flight_per_endpoint`, default 8).
    pub max_in_flight_per_endpoint: usize,
    /// Requests in flight in this process, all endpoints together
    /// (`webhooks.concurrency`, default 256).
    pub concurrency: usize,
    /// Allow endpoints on private, loopback and link-local addresses
    /// (`webhook_allow_private`); off by default (SSRF).
    pub allow_private: bool,
    /// This process's name in the event stream's consumer group and as fan-out leader.
    pub consumer: String,
    /// Events read per fan-out batch.
    pub fanout_batch: usize,
    /// How often a sender looks for due deliveries when nothing woke it (deliveries
    /// scheduled by another process, retries coming due).
    pub poll_interval: Duration,
    /// At shutdown, how long in-flight requests may take to finish.
    pub drain_timeout: Duration,
    /// The tenant reputation guard's window, minimum volume and thresholds, applied
    /// as the fan-out counts (`[reputation]`).
    pub reputation: sluice_model::ReputationPolicy,
}

impl Default for WebhookConfig {
    /// The configurable part from [`WebhooksConfig::default`], the one set of defaults.
    fn default() -> Self {
        let configured = WebhooksConfig::default();
        Self {
            retry: RetrySchedule::new(configured.retry_schedule),
            disable_after: configured.disable_after,
            request_timeout: configured.timeout,
            max_in_flight_per_endpoint: configured.max_in_flight_per_endpoint,
            concurrency: configured.concurrency,
            allow_private: false,
            consumer: sluice_store::consumer::unique_consumer_name("wh"),
            fanout_batch: 500,
            poll_interval: Duration::from_millis(200),
            drain_timeout: configured.drain_timeout,
            reputation: sluice_model::ReputationPolicy::default(),
        }
    }
}

impl WebhookConfig {
    /// How long a claimed delivery stays leased: several request timeouts, so a lease
    /// never runs out under a sender that is merely waiting on a slow endpoint.
    pub fn lease(&self) -> Duration {
        (self.request_timeout * 3 + Duration::from_secs(10)).max(Duration::from_secs(60))
    }

    /// How long a scheduled delivery's record may live: the whole retry schedule
    /// plus a day.
    pub fn delivery_ttl(&self) -> Duration {
        self.retry.span() + Duration::from_secs(24 * 3600)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("building the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// The fan-out (one per queue partition) and the sender of one process.
pub struct WebhookService {
    store: Store,
    config: Arc<WebhookConfig>,
    wake: Arc<Notify>,
    fanouts: Vec<fanout::Fanout>,
    sender: sender::Sender,
}

/// How often the service looks for partitions it does not fan out yet (another
/// process started with more of them).
const NEW_PARTITIONS_EVERY: Duration = Duration::from_secs(30);

impl WebhookService {
    pub async fn new(store: Store, config: WebhookConfig) -> Result<Self, WebhookError> {
        let config = Arc::new(config);
        // Lets the fan-out wake this process's sender as soon as it schedules work.
        let wake = Arc::new(Notify::new());
        let mut fanouts = Vec::new();
        for partition in store.served_partitions() {
            fanouts.push(
                fanout::Fanout::new(store.clone(), config.clone(), wake.clone(), partition).await?,
            );
        }
        let sender = sender::Sender::new(store.clone(), config.clone(), wake.clone())?;
        Ok(Self {
            store,
            config,
            wake,
            fanouts,
            sender,
        })
    }

    /// Runs both loops until `shutdown`, then drains in-flight requests. A partition
    /// that appears later (a process with a larger `queue.partitions`) gets its
    /// fan-out within [`NEW_PARTITIONS_EVERY`].
    pub async fn run(self, shutdown: CancellationToken) {
        let Self {
            store,
            config,
            wake,
            fanouts,
            sender,
        } = self;
        let mut running = tokio::task::JoinSet::new();
        let mut covered = Vec::new();
        for fanout in fanouts {
            covered.push(fanout.partition());
            running.spawn(fanout.run(shutdown.clone()));
        }
        let watch = async {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(NEW_PARTITIONS_EVERY) => {}
                    _ = shutdown.cancelled() => return,
                }
                for partition in store.served_partitions() {
                    if covered.contains(&partition) {
                        continue;
                    }
                    match fanout::Fanout::new(
                        store.clone(),
                        config.clone(),
                        wake.clone(),
                        partition,
                    )
                    .await
                    {
                        Ok(fanout) => {
                            covered.push(partition);
                            running.spawn(fanout.run(shutdown.clone()));
                        }
                        Err(e) => {
                            tracing::warn!(%partition, error = %e, "could not start a partition's fan-out")
                        }
                    }
                }
            }
        };
        tokio::join!(watch, sender.run(shutdown.clone()));
        while running.join_next().await.is_some() {}
    }
}
