//! Tenants (the senders sharing one Sluice) and their API keys.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::ids::{ApiKeyId, TenantId};
use crate::message::MessageStream;

/// What an API key may do.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Send messages.
    Send,
    /// Read messages, domains and events.
    Read,
    /// Manage the tenant's domains (and, later, webhooks and suppressions).
    Admin,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Send => "send",
            Scope::Read => "read",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "send" => Some(Scope::Send),
            "read" => Some(Scope::Read),
            "admin" => Some(Scope::Admin),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TenantView {
    pub id: TenantId,
    #[schema(example = "acme")]
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// Source-address pools this tenant sends from, per stream, instead of the
    /// configured defaults (`{"bulk": "bulk-ips"}`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pools: BTreeMap<MessageStream, String>,
}

/// A freshly created API key. `key` is shown this once; Sluice keeps only its hash.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyCreated {
    pub id: ApiKeyId,
    pub tenant_id: TenantId,
    #[schema(example = "sk_live_3bJ9c0x…")]
    pub key: String,
    pub scopes: Vec<Scope>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}
