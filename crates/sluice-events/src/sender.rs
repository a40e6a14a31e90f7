//! The webhook sender: claims due deliveries, POSTs them signed, settles each one.
//!
//! Isolation: each request runs in its own task under a global cap of `concurrency`
//! requests and a per-request timeout; the schedule never hands out more than
//! `max_in_flight_per_endpoint` deliveries of one endpoint at once (across all
//! processes), so a slow or dead endpoint ties up at most that many slots and its
//! backlog waits in Redis, not in front of anyone else's deliveries.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{CONTENT_TYPE, HeaderValue};
use sluice_model::{
    EventRecord, EventType, MessageEvent, TenantId, WebhookAttempt, WebhookAttemptOutcome,
    WebhookId, WebhookPayload,
};
use sluice_store::{AttemptRecorded, ClaimedDelivery, Settled, Store, StoreError, WebhookEndpoint};
use sluice_wire::signing::{WebhookSecret, signature_header};
use time::OffsetDateTime;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::ssrf::{self, Blocked, GuardedResolver};
use crate::{WebhookConfig, WebhookError};

/// Response bodies are read (so the connection can be reused) up to this much.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// Deliveries one task makes to one endpoint in a row before it hands its permit
/// back to the claim loop (fairness between endpoints when permits are scarce).
const MAX_CHAIN: u32 = 64;

#[derive(Clone)]
pub struct Sender {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    client: reqwest::Client,
    config: Arc<WebhookConfig>,
    /// Something may be claimable: the fan-out scheduled deliveries, or a request
    /// finished and freed its endpoint's slot.
    wake: Arc<Notify>,
}

/// What one request came to.
#[derive(Debug)]
struct Response {
    status: Option<u16>,
    error: Option<String>,
    /// The `outcome` label of `sluice_webhook_attempts_total`.
    kind: &'static str,
    duration: Duration,
}

impl Response {
    fn delivered(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// reqwest is built without a TLS provider of its own (see Cargo.toml): makes ring
/// the process default. Every reqwest client in the workspace shares this build of
/// reqwest, so anything that builds one calls this first. Installing twice is fine
/// (the error only says one is installed already).
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The HTTP client every request goes through: no redirects, no proxies, the guarded
/// resolver, HTTPS verified against the system's roots, one timeout for the whole
/// exchange.
pub fn http_client(config: &WebhookConfig) -> Result<reqwest::Client, reqwest::Error> {
    install_tls_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(Arc::new(GuardedResolver {
            allow_private: config.allow_private,
        }))
        .timeout(config.request_timeout)
        .connect_timeout(config.request_timeout.min(Duration::from_secs(5)))
        .pool_idle_timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(config.max_in_flight_per_endpoint.max(1))
        .user_agent(concat!("Sluice-Webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
}

impl Sender {
    pub fn new(
        store: Store,
        config: Arc<WebhookConfig>,
        wake: Arc<Notify>,
    ) -> Result<Self, WebhookError> {
        Ok(Self {
            inner: Arc::new(Inner {
                client: http_client(&config)?,
                store,
                config,
                wake,
            }),
        })
    }

    pub async fn run(self, shutdown: CancellationToken) {
        let config = &self.inner.config;
        let permits = Arc::new(Semaphore::new(config.concurrency.max(1)));
        let mut requests = JoinSet::new();
        tracing::info!(
            concurrency = config.concurrency,
            per_endpoint = config.max_in_flight_per_endpoint,
            "webhook sender started"
        );
        while !shutdown.is_cancelled() {
            let Some(held) =
                sluice_store::permits::take_permits(&permits, shutdown.cancelled()).await
            else {
                break;
            };
            let claims = self
                .inner
                .store
                .claim_webhook_deliveries(
                    sluice_model::time::now_ms(),
                    held.len(),
                    config.max_in_flight_per_endpoint,
                    config.lease(),
                )
                .await;
            let claims = match claims {
                Ok(claims) => claims,
                Err(e) => {
                    tracing::warn!(error = %e, "claiming webhook deliveries failed; retrying");
                    drop(held);
                    pause(&shutdown, &self.inner.wake, Duration::from_secs(1)).await;
                    continue;
                }
            };
            if claims.deliveries.is_empty() {
                drop(held);
                let until_due = claims.next_due_ms.map(|due| {
                    Duration::from_millis((due - sluice_model::time::now_ms()).max(0) as u64)
                });
                let wait = until_due.map_or(config.poll_interval, |d| d.min(config.poll_interval));
                if !wait.is_zero() {
                    pause(&shutdown, &self.inner.wake, wait).await;
                }
                continue;
            }
            let endpoints = self.endpoints_of(&claims.deliveries).await;
            let mut held = held;
            for delivery in claims.deliveries {
                let Some(permit) = held.pop() else { break };
                let endpoint = endpoints
                    .get(&(delivery.tenant.clone(), delivery.endpoint.clone()))
                    .cloned();
                requests.spawn(
                    self.clone()
                        .deliver(delivery, endpoint, shutdown.clone(), permit),
                );
            }
            while let Some(done) = requests.try_join_next() {
                if let Err(e) = done {
                    // The lease runs out and another attempt is made.
                    tracing::error!(error = %e, "a webhook request task panicked");
                }
            }
        }
        tracing::info!(in_flight = requests.len(), "webhook sender draining");
        let drained = tokio::time::timeout(config.drain_timeout, async {
            while requests.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                left = requests.len(),
                "webhook requests still running at the drain timeout; their leases expire and they are retried"
            );
            requests.abort_all();
        }
        tracing::info!("webhook sender stopped");
    }

    /// The endpoints of a claimed batch, read fresh (a rotation or a disable applies
    /// to the very next attempt). A read failure leaves the map empty for the
    /// deliveries concerned, and they are retried when their lease expires.
    async fn endpoints_of(
        &self,
        deliveries: &[ClaimedDelivery],
    ) -> HashMap<(TenantId, WebhookId), Option<WebhookEndpoint>> {
        let mut wanted: Vec<(TenantId, WebhookId)> = deliveries
            .iter()
            .map(|d| (d.tenant.clone(), d.endpoint.clone()))
            .collect();
        wanted.sort();
        wanted.dedup();
        match self.inner.store.get_webhooks(&wanted).await {
            Ok(mut found) => wanted
                .into_iter()
                .map(|key| {
                    let endpoint = found.remove(&key);
                    (key, endpoint)
                })
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "reading webhook endpoints failed");
                HashMap::new()
            }
        }
    }

    /// One task per claimed delivery. When it is settled and the endpoint has another
    /// due delivery and a free slot, the same call claims it and the task goes on
    /// with it (up to [`MAX_CHAIN`] in a row), so a busy endpoint's deliveries flow
    /// without a round through the claim loop each.
    async fn deliver(
        self,
        first: ClaimedDelivery,
        endpoint: Option<Option<WebhookEndpoint>>,
        shutdown: CancellationToken,
        _permit: OwnedSemaphorePermit,
    ) {
        let mut delivery = first;
        let mut endpoint = endpoint;
        let mut chained = 0;
        loop {
            let next = match &endpoint {
                // Could not read it: keep the lease; the delivery comes back when it expires.
                None => None,
                Some(None) => {
                    self.drop_delivery(&delivery, "endpoint deleted").await;
                    None
                }
                Some(Some(current)) if !current.enabled => {
                    self.drop_delivery(&delivery, "endpoint disabled").await;
                    None
                }
                Some(Some(current)) => {
                    let chain = chained < MAX_CHAIN && !shutdown.is_cancelled();
                    self.attempt(&delivery, current, chain).await
                }
            };
            self.inner.wake.notify_one();
            match next {
                Some((claimed, fresh)) => {
                    delivery = claimed;
                    endpoint = Some(fresh);
                    chained += 1;
                }
                None => break,
            }
        }
    }

    async fn drop_delivery(&self, delivery: &ClaimedDelivery, why: &str) {
        let cap = self.inner.config.max_in_flight_per_endpoint;
        match self
            .inner
            .store
            .settle_webhook_delivery(delivery, None, cap)
            .await
        {
            Ok(_) => {
                tracing::debug!(event = %delivery.record.id, webhook = %delivery.endpoint, why, "webhook delivery dropped");
                metrics::counter!("sluice_webhook_dropped_total").increment(1);
            }
            Err(e) => tracing::warn!(error = %e, "dropping a webhook delivery failed"),
        }
    }

    /// Sends one delivery and settles it; with `chain`, returns the endpoint's next
    /// delivery (claimed while settling) and the endpoint as it is now (`None`: gone).
    async fn attempt(
        &self,
        delivery: &ClaimedDelivery,
        endpoint: &WebhookEndpoint,
        chain: bool,
    ) -> Option<(ClaimedDelivery, Option<WebhookEndpoint>)> {
        let config = &self.inner.config;
        let at = OffsetDateTime::now_utc();
        let response = self.send(endpoint, &delivery.record, at).await;
        let delivered = response.delivered();
        // Disabled by this very failure? Then it is the last attempt.
        let disables = !delivered
            && endpoint
                .failing_since
                .is_some_and(|since| at - since >= config.disable_after);
        let retry_in = match delivered || disables {
            true => None,
            false => config.retry.after_failure(delivery.attempt),
        };
        let next_retry_at = retry_in.map(|d| at + d);
        let outcome = match (delivered, next_retry_at) {
            (true, _) => WebhookAttemptOutcome::Delivered,
            (false, Some(_)) => WebhookAttemptOutcome::Retrying,
            (false, None) => WebhookAttemptOutcome::GaveUp,
        };
        let record = WebhookAttempt {
            at,
            event_id: delivery.record.id.clone(),
            event_type: delivery.record.event.kind,
            attempt: delivery.attempt,
            outcome,
            http_status: response.status,
            error: response.error.clone(),
            duration_ms: response.duration.as_millis() as u64,
            next_retry_at,
        };
        let reason = format!(
            "failed continuously for more than {} s",
            config.disable_after.as_secs()
        );
        let retry_at_ms = next_retry_at.map(sluice_model::time::to_ms);
        let cap = config.max_in_flight_per_endpoint;
        let queue = &self.inner.store;
        let settle = async {
            if chain {
                queue
                    .settle_webhook_delivery_and_claim_next(
                        delivery,
                        retry_at_ms,
                        cap,
                        sluice_model::time::now_ms(),
                        config.lease(),
                    )
                    .await
            } else {
                queue
                    .settle_webhook_delivery(delivery, retry_at_ms, cap)
                    .await
                    .map(|held| Settled { held, next: None })
            }
        };
        let (settled, recorded) = tokio::join!(
            settle,
            self.inner.store.record_webhook_attempt(
                &delivery.tenant,
                &delivery.endpoint,
                &record,
                config.disable_after,
                &reason
            ),
        );

        metrics::counter!("sluice_webhook_attempts_total", "outcome" => response.kind).increment(1);
        metrics::histogram!("sluice_webhook_request_seconds")
            .record(response.duration.as_secs_f64());
        if delivered {
            let latency = (OffsetDateTime::now_utc() - delivery.record.event.timestamp)
                .as_seconds_f64()
                .max(0.0);
            metrics::histogram!("sluice_webhook_delivery_latency_seconds").record(latency);
        } else if outcome == WebhookAttemptOutcome::GaveUp {
            metrics::counter!("sluice_webhook_gave_up_total").increment(1);
            tracing::info!(event = %delivery.record.id, webhook = %delivery.endpoint, attempts = delivery.attempt, "webhook delivery given up");
        }

        let next = match settled {
            Ok(settled) => {
                if !settled.held {
                    tracing::warn!(event = %delivery.record.id, webhook = %delivery.endpoint, "webhook lease lost before the attempt was settled (the sender was too slow); another sender owns the delivery now");
                }
                settled.next
            }
            Err(e) => {
                // The lease expires and the delivery is attempted again.
                tracing::warn!(event = %delivery.record.id, webhook = %delivery.endpoint, error = %e, "could not settle a webhook attempt");
                None
            }
        };
        let fresh = match recorded {
            Ok((AttemptRecorded::Disabled, now)) => {
                if let Err(e) = self.disabled(endpoint, at).await {
                    tracing::warn!(webhook = %endpoint.id, error = %e, "could not record the webhook.disabled event");
                }
                now
            }
            Ok((_, now)) => now,
            Err(e) => {
                tracing::warn!(event = %delivery.record.id, webhook = %delivery.endpoint, error = %e, "could not record a webhook attempt");
                Some(endpoint.clone())
            }
        };
        next.map(|next| (next, fresh))
    }

    /// The endpoint was just disabled: tell the tenant with a `webhook.disabled` event.
    async fn disabled(
        &self,
        endpoint: &WebhookEndpoint,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let since = endpoint
            .failing_since
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_default();
        tracing::warn!(webhook = %endpoint.id, tenant = %endpoint.tenant, url = %endpoint.url, %since, "webhook endpoint disabled after failing continuously");
        metrics::counter!("sluice_webhook_endpoints_disabled_total").increment(1);
        let event = MessageEvent::new(EventType::WebhookDisabled, at).detail(format!(
            "webhook {} ({}) failed continuously since {since} and was disabled; re-enable it with POST /v1/webhooks/{}/enable",
            endpoint.id, endpoint.url, endpoint.id
        ));
        self.inner
            .store
            .record_tenant_event(&endpoint.tenant, &event)
            .await
    }

    async fn send(
        &self,
        endpoint: &WebhookEndpoint,
        record: &EventRecord,
        at: OffsetDateTime,
    ) -> Response {
        let started = Instant::now();
        let fail = |kind, error: String| Response {
            status: None,
            error: Some(error),
            kind,
            duration: started.elapsed(),
        };
        let url = match ssrf::parse_url(&endpoint.url, self.inner.config.allow_private) {
            Ok(url) => url,
            Err(e) => return fail("blocked", format!("url: {e}")),
        };
        let secrets: Vec<WebhookSecret> = endpoint
            .signing_secrets(at)
            .into_iter()
            .filter_map(|s| WebhookSecret::parse(s).ok())
            .collect();
        if secrets.is_empty() {
            return fail("error", "the endpoint's secret is unreadable".into());
        }
        let body = match serde_json::to_vec(&WebhookPayload::from(record)) {
            Ok(body) => body,
            Err(e) => return fail("error", format!("serializing the payload: {e}")),
        };
        let timestamp = at.unix_timestamp();
        let signature = signature_header(&secrets, &record.id, timestamp, &body);
        let request = self
            .inner
            .client
            .post(url)
            .header("webhook-id", &record.id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(body);
        match request.send().await {
            Ok(mut response) => {
                let status = response.status().as_u16();
                let duration = started.elapsed();
                // Read (some of) the body so the connection can be reused.
                let mut read = 0;
                while read < MAX_RESPONSE_BYTES {
                    match response.chunk().await {
                        Ok(Some(chunk)) => read += chunk.len(),
                        _ => break,
                    }
                }
                let delivered = (200..300).contains(&status);
                Response {
                    status: Some(status),
                    error: None,
                    kind: if delivered { "delivered" } else { "http_error" },
                    duration,
                }
            }
            Err(e) => {
                let (kind, text) = classify(&e);
                fail(kind, text)
            }
        }
    }
}

/// The metric label and the recorded text of a failed request.
fn classify(error: &reqwest::Error) -> (&'static str, String) {
    let mut chain = Vec::new();
    let mut blocked = false;
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        blocked |= e.is::<Blocked>();
        let text = e.to_string();
        if !chain.iter().any(|seen: &String| seen.contains(&text)) {
            chain.push(text);
        }
        source = e.source();
    }
    let text = chain.join(": ");
    let kind = if blocked {
        "blocked"
    } else if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connect_error"
    } else {
        "error"
    };
    (kind, text)
}

async fn pause(shutdown: &CancellationToken, wake: &Notify, duration: Duration) {
    tokio::select! {
        _ = tokio::time::sleep(duration) => {}
        _ = wake.notified() => {}
        _ = shutdown.cancelled() => {}
    }
}
