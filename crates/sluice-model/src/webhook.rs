//! Webhook delivery attempts, as recorded per endpoint and listed by the API.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::event::EventType;

/// What one attempt to deliver an event to an endpoint came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WebhookAttemptOutcome {
    /// The endpoint answered 2xx.
    Delivered,
    /// Failed; another attempt is scheduled at `next_retry_at`.
    Retrying,
    /// Failed, and it was the last attempt of the retry schedule (or the endpoint was
    /// disabled): no more attempts.
    GaveUp,
}

/// One attempt to deliver one event to one endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WebhookAttempt {
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
    /// The event (`webhook-id` header) this attempt delivered.
    #[schema(example = "evt_1795376091664-0")]
    pub event_id: String,
    pub event_type: EventType,
    /// 1 for the first attempt of this event to this endpoint, then 2, 3, …
    pub attempt: u32,
    pub outcome: WebhookAttemptOutcome,
    /// The endpoint's HTTP status, when it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = 200)]
    pub http_status: Option<u16>,
    /// Why the attempt failed before any answer (timeout, connection refused, a
    /// refused private address, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// From sending the request to reading the status line (or failing).
    pub duration_ms: u64,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_retry_at: Option<OffsetDateTime>,
}
