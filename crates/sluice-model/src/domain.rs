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

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DomainView {
    #[schema(value_type = String, example = "acme.test")]
    pub name: DomainName,
    pub dkim: DkimInfo,
    pub dns_records: Vec<DnsRecord>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}
