//! Sending domains: their DKIM key (public half only here) and the DNS records a
//! tenant must publish for SPF, DKIM and DMARC to pass.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::address::DomainName;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum DkimAlgorithm {
    /// RSA-2048 with SHA-256: understood by every verifier.
    #[default]
    #[serde(rename = "rsa-sha256")]
    RsaSha256,
    /// Ed25519 with SHA-256 (RFC 8463): small and fast, not yet verified everywhere.
    #[serde(rename = "ed25519-sha256")]
    Ed25519Sha256,
}

impl DkimAlgorithm {
    /// The `k=` tag of the DKIM DNS record.
    pub fn key_type(self) -> &'static str {
        match self {
            DkimAlgorithm::RsaSha256 => "rsa",
            DkimAlgorithm::Ed25519Sha256 => "ed25519",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DkimAlgorithm::RsaSha256 => "rsa-sha256",
            DkimAlgorithm::Ed25519Sha256 => "ed25519-sha256",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "rsa-sha256" => Some(Self::RsaSha256),
            "ed25519-sha256" => Some(Self::Ed25519Sha256),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DkimInfo {
    #[schema(example = "sluice20261122")]
    pub selector: String,
    pub algorithm: DkimAlgorithm,
    /// Base64 public key, as it appears after `p=` in the DNS record.
    pub public_key: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DnsRecordPurpose {
    Dkim,
    Spf,
    Dmarc,
    ReturnPath,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DnsRecord {
    #[serde(rename = "type")]
    #[schema(example = "TXT")]
    pub record_type: String,
    #[schema(example = "sluice20261122._domainkey.acme.test")]
    pub name: String,
    #[schema(example = "v=DKIM1; k=rsa; p=MIIBIjANBgkqh…")]
    pub value: String,
    pub purpose: DnsRecordPurpose,
}

/// Where a DKIM key is in its life. A rotation adds a `pending` key; it becomes
/// `active` (and the key it replaces `retiring`) only once its DNS record verifies,
/// so mail is never signed with a key receivers cannot look up yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DkimKeyState {
    /// Waiting for its DNS record; not used for signing.
    Pending,
    /// Signs new mail.
    Active,
    /// No longer signs; its record must stay published until `retire_at`, because
    /// mail signed with it may still be in transit or checked again later.
    Retiring,
}

impl DkimKeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            DkimKeyState::Pending => "pending",
            DkimKeyState::Active => "active",
            DkimKeyState::Retiring => "retiring",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "pending" => Some(Self::Pending),
            "active" => Some(Self::Active),
            "retiring" => Some(Self::Retiring),
            _ => None,
        }
    }
}

/// Whether a domain's DNS is known to be in place for sending.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DomainStatus {
    #[default]
    Unverified,
    /// Every active DKIM key and the SPF record were found as expected at the last check.
    Verified,
}

impl DomainStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DomainStatus::Unverified => "unverified",
            DomainStatus::Verified => "verified",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "unverified" => Some(Self::Unverified),
            "verified" => Some(Self::Verified),
            _ => None,
        }
    }
}

/// The outcome of looking up one DNS record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DnsCheckStatus {
    /// Found, with the expected content.
    Verified,
    /// No record of this kind at the name.
    Missing,
    /// A record of this kind is there, with other content (`found` shows it).
    Mismatch,
    /// The lookup itself failed (SERVFAIL, timeout): nothing is concluded, and a
    /// domain's status is left as it was.
    LookupFailed,
}

/// One DNS record as the last verification found it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DnsCheck {
    pub purpose: DnsRecordPurpose,
    /// The name looked up.
    #[schema(example = "sluice20261122ab12._domainkey.acme.test")]
    pub name: String,
    /// For DKIM: the key's selector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    pub status: DnsCheckStatus,
    /// Whether the domain's status depends on this record: active DKIM keys and SPF
    /// do; pending and retiring keys and DMARC are reported only.
    pub required: bool,
    /// What should be published (for SPF, the part that must be in the record).
    #[schema(example = "v=DKIM1; k=rsa; p=MIIBIjANBgkqh…")]
    pub expected: String,
    /// The records of this kind that were found, strings of one record joined.
    pub found: Vec<String>,
    /// Why it did not verify, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A domain's verification state and the records behind it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DomainVerification {
    pub status: DomainStatus,
    /// When the domain last became verified (kept while it stays verified).
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub verified_at: Option<OffsetDateTime>,
    /// When DNS was last checked (`POST /v1/domains/{name}/verify` or the periodic check).
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_checked_at: Option<OffsetDateTime>,
    /// Each record as the last check found it; empty before the first check.
    #[serde(default)]
    pub checks: Vec<DnsCheck>,
}

/// One DKIM key of a domain (the public half; private keys never leave Sluice).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DkimKeyView {
    #[schema(example = "sluice20261122ab12")]
    pub selector: String,
    pub algorithm: DkimAlgorithm,
    /// Base64 public key, as it appears after `p=`.
    pub public_key: String,
    pub state: DkimKeyState,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub activated_at: Option<OffsetDateTime>,
    /// For a retiring key: when it is dropped and its record may be removed.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub retire_at: Option<OffsetDateTime>,
    /// The TXT record that publishes this key.
    pub dns_record: DnsRecord,
    /// What to do with the record now.
    #[schema(example = "Keep this record published until 2026-11-29T10:00:00Z.")]
    pub advice: String,
}

/// A `domain.verification_failed` event's subject: the domain and the records that
/// stopped verifying.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DomainEventData {
    #[schema(example = "acme.test")]
    pub name: String,
    pub failed_records: Vec<DnsCheck>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DomainView {
    #[schema(value_type = String, example = "acme.test")]
    pub name: DomainName,
    /// The key new mail is signed with (the RSA one when an Ed25519 key is active too).
    pub dkim: DkimInfo,
    /// Every key: active, pending (waiting for its record) and retiring.
    pub dkim_keys: Vec<DkimKeyView>,
    pub verification: DomainVerification,
    /// Every record to publish: the DKIM record of each key (active first), SPF, DMARC
    /// and the return path.
    pub dns_records: Vec<DnsRecord>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}
