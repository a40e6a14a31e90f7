//! What a DNS check or a rotation does to a domain's keys and status: pure functions
//! from the record as read to the record to store, so the store's compare-and-set
//! can simply retry them on a conflict.

use std::time::Duration;

use rand::Rng as _;
use sluice_model::{
    DkimAlgorithm, DkimKeyState, DnsCheck, DnsCheckStatus, DnsRecordPurpose, DomainEventData,
    DomainStatus,
};
use sluice_store::DomainRecord;
use time::OffsetDateTime;

/// The next state of a domain after a check, and the event to send if it lost its
/// verification.
#[derive(Debug)]
pub struct Checked {
    pub next: DomainRecord,
    pub failed: Option<DomainEventData>,
    /// Selectors that became active with this check.
    pub activated: Vec<String>,
}

/// Applies the findings of a check at `now`:
///
/// - a pending key whose record verified becomes active; an active key of the same
///   algorithm becomes retiring until `now + overlap` (a key of the other algorithm
///   stays: that is dual signing);
/// - a retiring key past its `retire_at` is dropped;
/// - the domain is verified when every active key's record and SPF verified;
///   unverified when one of them is missing or mismatched; unchanged when the only
///   trouble was failed lookups (a resolver outage proves nothing about the records).
///
/// DMARC is reported but does not decide the status: it is the domain owner's policy
/// over all their senders (often managed by someone else, and inherited from the
/// organizational domain for subdomains), and DKIM/SPF alignment is what Sluice
/// controls. Pending and retiring keys are reported too without deciding it.
pub fn apply_checks(
    previous: &DomainRecord,
    mut checks: Vec<DnsCheck>,
    now: OffsetDateTime,
    overlap: Duration,
) -> Checked {
    let mut next = previous.clone();
    let verified_selector = |selector: &str| {
        checks.iter().any(|c| {
            c.purpose == DnsRecordPurpose::Dkim
                && c.selector.as_deref() == Some(selector)
                && c.status == DnsCheckStatus::Verified
        })
    };
    let activated: Vec<(String, DkimAlgorithm)> = next
        .keys
        .iter()
        .filter(|k| k.state == DkimKeyState::Pending && verified_selector(&k.info.selector))
        .map(|k| (k.info.selector.clone(), k.info.algorithm))
        .collect();
    for key in &mut next.keys {
        if activated.iter().any(|(s, _)| *s == key.info.selector) {
            key.state = DkimKeyState::Active;
            key.activated_at = Some(now);
        } else if key.state == DkimKeyState::Active
            && activated.iter().any(|(_, a)| *a == key.info.algorithm)
        {
            key.state = DkimKeyState::Retiring;
            key.retire_at = Some(now + overlap);
        }
    }
    next.keys
        .retain(|k| !(k.state == DkimKeyState::Retiring && k.retire_at.is_some_and(|t| t <= now)));
    next.sort_keys();

    // Required-ness follows the keys' new states; checks of dropped keys go.
    checks.retain(|c| {
        c.purpose != DnsRecordPurpose::Dkim
            || next
                .keys
                .iter()
                .any(|k| c.selector.as_deref() == Some(k.info.selector.as_str()))
    });
    for check in &mut checks {
        if check.purpose == DnsRecordPurpose::Dkim {
            check.required = next.keys.iter().any(|k| {
                k.state == DkimKeyState::Active
                    && check.selector.as_deref() == Some(k.info.selector.as_str())
            });
        }
    }
    let required: Vec<&DnsCheck> = checks.iter().filter(|c| c.required).collect();
    let failing: Vec<DnsCheck> = required
        .iter()
        .filter(|c| matches!(c.status, DnsCheckStatus::Missing | DnsCheckStatus::Mismatch))
        .map(|c| (*c).clone())
        .collect();
    let all_verified = required
        .iter()
        .all(|c| c.status == DnsCheckStatus::Verified)
        && next.active_keys().next().is_some();
    let previous_status = previous.verification.status;
    let status = if all_verified {
        DomainStatus::Verified
    } else if !failing.is_empty() {
        DomainStatus::Unverified
    } else {
        previous_status
    };
    let verification = &mut next.verification;
    verification.verified_at = match status {
        DomainStatus::Verified if previous_status == DomainStatus::Verified => {
            verification.verified_at.or(Some(now))
        }
        DomainStatus::Verified => Some(now),
        DomainStatus::Unverified => None,
    };
    verification.status = status;
    verification.last_checked_at = Some(now);
    verification.checks = checks;
    let failed = (previous_status == DomainStatus::Verified && status == DomainStatus::Unverified)
        .then(|| DomainEventData {
            name: next.name.to_string(),
            failed_records: failing,
        });
    Checked {
        next,
        failed,
        activated: activated.into_iter().map(|(s, _)| s).collect(),
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RotateError {
    #[error(
        "the key {0} is still pending: publish its DNS record and verify the domain before rotating again"
    )]
    PendingExists(String),
    #[error(
        "the domain signs with more than one algorithm (or none): name the one to rotate in `algorithm`"
    )]
    AlgorithmRequired,
}

/// The algorithm of the key a rotation adds: the one asked for, else the one the
/// domain signs with.
pub fn rotation_algorithm(
    record: &DomainRecord,
    asked: Option<DkimAlgorithm>,
) -> Result<DkimAlgorithm, RotateError> {
    if let Some(pending) = record
        .keys
        .iter()
        .find(|k| k.state == DkimKeyState::Pending)
    {
        return Err(RotateError::PendingExists(pending.info.selector.clone()));
    }
    if let Some(algorithm) = asked {
        return Ok(algorithm);
    }
    let mut active: Vec<DkimAlgorithm> = record.active_keys().map(|k| k.info.algorithm).collect();
    active.dedup();
    match active.as_slice() {
        [only] => Ok(*only),
        _ => Err(RotateError::AlgorithmRequired),
    }
}

/// A selector unique among `taken`: `sluice<yyyymmdd><4 random characters>`. The date
/// tells operators when a key was made; the suffix keeps two keys of one day apart.
pub fn new_selector(now: OffsetDateTime, taken: &[&str]) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    loop {
        let suffix: String = (0..4)
            .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
            .collect();
        let selector = format!(
            "sluice{:04}{:02}{:02}{suffix}",
            now.year(),
            u8::from(now.month()),
            now.day()
        );
        if !taken.contains(&selector.as_str()) {
            return selector;
        }
    }
}

#[cfg(test)]
mod tests;
