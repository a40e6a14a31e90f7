//! How a stored domain is shown: its keys with their records and what to do with
//! each, its verification, and every DNS record to publish. Public halves only.

use sluice_domains::dkim::{self, DnsRecordSettings};
use sluice_model::{
    DkimAlgorithm, DkimInfo, DkimKeyState, DkimKeyView, DnsCheckStatus, DnsRecordPurpose,
    DomainView,
};
use sluice_store::{DkimKey, DomainRecord};
use time::format_description::well_known::Rfc3339;

use crate::problem::ApiError;

pub fn domain_view(
    settings: &DnsRecordSettings,
    record: &DomainRecord,
) -> Result<DomainView, ApiError> {
    let primary = record
        .active_keys()
        .find(|k| k.info.algorithm == DkimAlgorithm::RsaSha256)
        .or_else(|| record.active_keys().next())
        .or_else(|| record.keys.first())
        .ok_or_else(|| ApiError::internal(format!("domain {} has no DKIM key", record.name)))?;
    let published: Vec<DkimInfo> = record.keys.iter().map(|k| k.info.clone()).collect();
    Ok(DomainView {
        name: record.name.clone(),
        dkim: primary.info.clone(),
        dkim_keys: record.keys.iter().map(|k| key_view(record, k)).collect(),
        verification: record.verification.clone(),
        dns_records: dkim::dns_records(&record.name, &published, settings),
        created_at: record.created_at,
    })
}

pub fn key_view(record: &DomainRecord, key: &DkimKey) -> DkimKeyView {
    let name = &record.name;
    let record_verified = record.verification.checks.iter().any(|c| {
        c.purpose == DnsRecordPurpose::Dkim
            && c.selector.as_deref() == Some(key.info.selector.as_str())
            && c.status == DnsCheckStatus::Verified
    });
    let advice = match key.state {
        DkimKeyState::Pending => format!(
            "Publish this record, then verify the domain (POST /v1/domains/{name}/verify). Mail is signed with the active key until this record verifies; then this key takes over."
        ),
        DkimKeyState::Active if record_verified => {
            "Published and verified: new mail is signed with this key.".to_string()
        }
        DkimKeyState::Active => format!(
            "Publish this record and verify the domain (POST /v1/domains/{name}/verify): new mail is signed with this key."
        ),
        DkimKeyState::Retiring => {
            let until = key
                .retire_at
                .and_then(|t| t.format(&Rfc3339).ok())
                .unwrap_or_else(|| "its retire_at".into());
            format!(
                "No longer signs new mail. Keep this record published until {until}: mail already signed with it is still checked against it. After that the key is dropped and the record may be removed."
            )
        }
    };
    DkimKeyView {
        selector: key.info.selector.clone(),
        algorithm: key.info.algorithm,
        public_key: key.info.public_key.clone(),
        state: key.state,
        created_at: key.created_at,
        activated_at: key.activated_at,
        retire_at: key.retire_at,
        dns_record: dkim::dkim_dns_record(name, &key.info),
        advice,
    }
}
