//! Operator webhooks: news about the installation rather than about a tenant's mail
//! — `ip.listed` and `ip.delisted` from the blocklist watch — POSTed to
//! `delivery.operator_webhook_url`.
//!
//! The body has the tenant webhooks' shape (`type`, `timestamp`, `data` with an
//! `event_id`), and so do the headers: `webhook-id` is the event's id (stable, from
//! the operator event stream in Redis, so a receiver can deduplicate),
//! `webhook-timestamp`, and `webhook-signature` (Standard Webhooks) when
//! `delivery.operator_webhook_secret` is set; without a secret the POST is unsigned.
//!
//! The operator chose the URL, so it may point at a private address (an alerting
//! service beside Sluice). Delivery is best effort from the process that saw the
//! change: a few attempts over about half a minute, each failure logged. The event
//! itself is kept in Redis with the state change (see `sluice_store::dnsbl`), and
//! the log line and `sluice_dnsbl_listed` gauge do not depend on the webhook.

use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderValue};
use serde::Serialize;
use sluice_store::dnsbl::DnsblChange;
use sluice_wire::{WebhookSecret, signature_header};
use time::OffsetDateTime;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Attempts per event, and the pause before the first retry (doubled each time).
const ATTEMPTS: u32 = 5;
const FIRST_RETRY: Duration = Duration::from_secs(1);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum OperatorWebhookError {
    #[error("operator_webhook_url: {0}")]
    Url(#[from] sluice_model::webhook_url::UrlError),
    #[error("operator_webhook_secret: {0}")]
    Secret(#[from] sluice_wire::SecretError),
    #[error("HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// The body of an operator webhook.
#[derive(Debug, Serialize)]
pub struct OperatorPayload {
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(with = "time::serde::rfc3339")]
    pub timestamp: OffsetDateTime,
    pub data: ListingData,
}

#[derive(Debug, Serialize)]
pub struct ListingData {
    /// `opevt_<stream entry id>`, also the `webhook-id` header.
    pub event_id: String,
    pub ip: String,
    pub zone: String,
    /// The blocklist's answer (for `ip.delisted`: the one it was listed with).
    pub answer: String,
    /// When the listing was first seen.
    #[serde(with = "time::serde::rfc3339")]
    pub listed_since: OffsetDateTime,
}

impl From<&DnsblChange> for OperatorPayload {
    fn from(change: &DnsblChange) -> Self {
        let listing = &change.listing;
        Self {
            kind: change.kind.event_type(),
            timestamp: OffsetDateTime::now_utc(),
            data: ListingData {
                event_id: format!("opevt_{}", change.event_id),
                ip: listing.ip.clone(),
                zone: listing.zone.clone(),
                answer: listing.answer.clone(),
                listed_since: listing.since,
            },
        }
    }
}

pub struct OperatorWebhook {
    client: reqwest::Client,
    url: reqwest::Url,
    secret: Option<WebhookSecret>,
}

impl OperatorWebhook {
    pub fn new(url: &str, secret: Option<&str>) -> Result<Self, OperatorWebhookError> {
        crate::install_tls_provider();
        let url = sluice_model::webhook_url::parse_url(url, true)?;
        let secret = secret.map(WebhookSecret::parse).transpose()?;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("Sluice-Webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            client,
            url,
            secret,
        })
    }

    /// Posts every change received until `shutdown` (or until the sender is gone).
    pub async fn run(
        self,
        mut changes: mpsc::UnboundedReceiver<DnsblChange>,
        shutdown: CancellationToken,
    ) {
        loop {
            let change = tokio::select! {
                change = changes.recv() => change,
                () = shutdown.cancelled() => None,
            };
            let Some(change) = change else { return };
            let payload = OperatorPayload::from(&change);
            tokio::select! {
                _ = self.deliver(&payload) => {}
                () = shutdown.cancelled() => return,
            }
        }
    }

    /// POSTs `payload`, retrying on failure; `true` once a 2xx came back.
    pub async fn deliver(&self, payload: &OperatorPayload) -> bool {
        let body = match serde_json::to_vec(payload) {
            Ok(body) => body,
            Err(e) => {
                tracing::error!(error = %e, "could not serialize an operator event");
                return false;
            }
        };
        let id = &payload.data.event_id;
        let mut pause = FIRST_RETRY;
        for attempt in 1..=ATTEMPTS {
            let timestamp = OffsetDateTime::now_utc().unix_timestamp();
            let mut request = self
                .client
                .post(self.url.clone())
                .header("webhook-id", id)
                .header("webhook-timestamp", timestamp.to_string())
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                .body(body.clone());
            if let Some(secret) = &self.secret {
                request = request.header(
                    "webhook-signature",
                    signature_header(std::slice::from_ref(secret), id, timestamp, &body),
                );
            }
            let outcome = match request.send().await {
                Ok(response) if response.status().is_success() => {
                    metrics::counter!("sluice_operator_webhook_attempts_total", "outcome" => "delivered").increment(1);
                    return true;
                }
                Ok(response) => format!("HTTP {}", response.status().as_u16()),
                Err(e) => e.to_string(),
            };
            metrics::counter!("sluice_operator_webhook_attempts_total", "outcome" => "failed")
                .increment(1);
            tracing::warn!(event = payload.kind, %id, attempt, error = %outcome, "operator webhook failed");
            if attempt < ATTEMPTS {
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
        }
        tracing::error!(event = payload.kind, %id, "operator webhook given up");
        false
    }
}
