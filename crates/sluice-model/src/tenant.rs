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

/// Whether a key sends real mail (`live`) or only simulates delivery (`test`: a
/// sandbox key, `sk_test_…`, whose messages are built and signed but never leave the
/// machine; see the README's "Sandbox keys").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ApiKeyMode {
    #[default]
    Live,
    Test,
}

impl ApiKeyMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiKeyMode::Live => "live",
            ApiKeyMode::Test => "test",
        }
    }

    /// The stored form back; anything but `test` (an absent field included, as in
    /// keys made before modes existed) is `live`.
    pub fn from_stored(value: Option<&str>) -> Self {
        match value {
            Some("test") => ApiKeyMode::Test,
            _ => ApiKeyMode::Live,
        }
    }

    pub fn is_test(self) -> bool {
        self == ApiKeyMode::Test
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TenantView {
    pub id: TenantId,
    #[schema(example = "acme")]
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Source-address pools this tenant sends from, per stream, instead of the
    /// configured defaults (`{"bulk": "bulk-ips"}`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pools: BTreeMap<MessageStream, String>,
    /// The tenant's effective sending quotas (its own, else the configured defaults);
    /// shown by the admin API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quotas: Option<crate::quota::TenantQuotas>,
    /// The reputation guard's view of the tenant: rates per stream over the window,
    /// the thresholds, and whether bulk is paused; shown by the admin API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reputation: Option<crate::reputation::TenantReputation>,
}

/// A freshly created API key. `key` is shown this once; Sluice keeps only its hash.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyCreated {
    pub id: ApiKeyId,
    pub tenant_id: TenantId,
    /// The label given at creation, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "billing service")]
    pub name: Option<String>,
    #[schema(example = "sk_3bJ9c0x…")]
    pub key: String,
    pub scopes: Vec<Scope>,
    /// `live`, or `test` for a sandbox key (`sk_test_…`).
    #[serde(default)]
    pub mode: ApiKeyMode,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the key stops working; absent for keys that never expire.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub expires_at: Option<OffsetDateTime>,
}

/// An API key as listings show it: what it may do and its life cycle, never the
/// secret or its hash. `last4` lets a person tell which key a config file holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyView {
    pub id: ApiKeyId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "billing service")]
    pub name: Option<String>,
    pub scopes: Vec<Scope>,
    /// `live`, or `test` for a sandbox key whose messages are never sent.
    #[serde(default)]
    pub mode: ApiKeyMode,
    /// The secret's last four characters.
    #[schema(example = "x9Qa")]
    pub last4: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub expires_at: Option<OffsetDateTime>,
    /// Set once the key is revoked; revoked keys stay listed for the retention period.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub revoked_at: Option<OffsetDateTime>,
    /// `active`, `expired` or `revoked`, as of this response.
    pub status: ApiKeyStatus,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ApiKeyStatus {
    Active,
    Expired,
    Revoked,
}
