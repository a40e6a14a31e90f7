//! The per-tenant suppression list: addresses Sluice will not send to, and why.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::ids::MessageId;

/// Why an address is on the suppression list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SuppressionReason {
    /// A hard bounce that says the address does not work (no such mailbox or domain).
    HardBounce,
    /// The recipient reported a message as spam.
    Complaint,
    /// The recipient used an unsubscribe link.
    Unsubscribe,
    /// Added through the API.
    Manual,
}

impl SuppressionReason {
    pub const ALL: [SuppressionReason; 4] = [
        SuppressionReason::HardBounce,
        SuppressionReason::Complaint,
        SuppressionReason::Unsubscribe,
        SuppressionReason::Manual,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SuppressionReason::HardBounce => "hard-bounce",
            SuppressionReason::Complaint => "complaint",
            SuppressionReason::Unsubscribe => "unsubscribe",
            SuppressionReason::Manual => "manual",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == value)
    }
}

impl std::fmt::Display for SuppressionReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One address on a tenant's suppression list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Suppression {
    /// The address, lower-cased: matching ignores case.
    #[schema(example = "jane@example.com")]
    pub address: String,
    pub reason: SuppressionReason,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The message whose bounce, complaint or unsubscribe added the address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<MessageId>,
    /// The event that added the address (`evt_…`, see `GET /v1/events`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "evt_1795376091664-0")]
    pub event_id: Option<String>,
    /// Free text given when the address was added by hand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_round_trip_as_kebab_case() {
        for reason in SuppressionReason::ALL {
            let json = serde_json::to_string(&reason).expect("serialize");
            assert_eq!(json, format!("\"{}\"", reason.as_str()));
            assert_eq!(SuppressionReason::parse(reason.as_str()), Some(reason));
        }
        assert_eq!(SuppressionReason::parse("bounce"), None);
    }
}
