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
    pub next_retry_at: Option<OffsetDateTime>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one timestamp form on the wire: RFC 3339 strings, an unset optional one left
    /// out; and the schema says so without a schema attribute on the fields.
    #[test]
    fn timestamps_are_rfc3339_strings_in_json_and_in_the_schema() -> Result<(), serde_json::Error> {
        let attempt = WebhookAttempt {
            at: time::macros::datetime!(2025-01-02 03:04:05.5 UTC),
            event_id: "evt_1-0".into(),
            event_type: EventType::Delivered,
            attempt: 1,
            outcome: WebhookAttemptOutcome::Delivered,
            http_status: Some(200),
            error: None,
            duration_ms: 12,
            next_retry_at: None,
        };
        let json = serde_json::to_value(&attempt)?;
        assert_eq!(json["at"], "2025-01-02T03:04:05.5Z");
        assert!(json.get("next_retry_at").is_none());
        let back: WebhookAttempt = serde_json::from_value(json)?;
        assert_eq!(back, attempt);

        let schema = serde_json::to_value(<WebhookAttempt as utoipa::PartialSchema>::schema())?;
        let properties = &schema["properties"];
        assert_eq!(properties["at"]["type"], "string");
        assert_eq!(properties["at"]["format"], "date-time");
        assert_eq!(properties["next_retry_at"]["format"], "date-time");
        Ok(())
    }
}
