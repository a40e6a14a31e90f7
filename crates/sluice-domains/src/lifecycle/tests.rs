#![allow(clippy::unwrap_used)]

use sluice_model::{DkimInfo, DomainName};
use sluice_store::DkimKey;
use time::macros::datetime;

use super::*;

const NOW: OffsetDateTime = datetime!(2026-11-22 10:00 UTC);
const WEEK: Duration = Duration::from_secs(7 * 86_400);

fn key(selector: &str, algorithm: DkimAlgorithm, state: DkimKeyState) -> DkimKey {
    DkimKey::new(
        DkimInfo {
            selector: selector.into(),
            algorithm,
            public_key: format!("PUB-{selector}"),
        },
        state,
        NOW - time::Duration::days(30),
        vec![1, 2, 3],
    )
}

fn domain(keys: Vec<DkimKey>, status: DomainStatus) -> DomainRecord {
    let mut record = DomainRecord::new(
        DomainName::parse("acme.test").expect("domain"),
        NOW - time::Duration::days(30),
        keys,
    );
    record.verification.status = status;
    record
}

fn dkim(selector: &str, status: DnsCheckStatus) -> DnsCheck {
    DnsCheck {
        purpose: DnsRecordPurpose::Dkim,
        name: format!("{selector}._domainkey.acme.test"),
        selector: Some(selector.into()),
        status,
        required: false,
        expected: String::new(),
        found: Vec::new(),
        detail: None,
    }
}

fn other(purpose: DnsRecordPurpose, status: DnsCheckStatus) -> DnsCheck {
    DnsCheck {
        purpose,
        name: "acme.test".into(),
        selector: None,
        status,
        required: purpose == DnsRecordPurpose::Spf,
        expected: String::new(),
        found: Vec::new(),
        detail: None,
    }
}

fn state_of(record: &DomainRecord, selector: &str) -> Option<DkimKeyState> {
    record
        .keys
        .iter()
        .find(|k| k.info.selector == selector)
        .map(|k| k.state)
}

use DkimAlgorithm::{Ed25519Sha256 as Ed, RsaSha256 as Rsa};
use DnsCheckStatus::{LookupFailed, Mismatch, Missing, Verified};

#[test]
fn a_verified_pending_key_replaces_the_active_key_of_its_algorithm() {
    let before = domain(
        vec![
            key("old", Rsa, DkimKeyState::Active),
            key("ed", Ed, DkimKeyState::Active),
            key("new", Rsa, DkimKeyState::Pending),
        ],
        DomainStatus::Verified,
    );
    let checked = apply_checks(
        &before,
        vec![
            dkim("old", Verified),
            dkim("ed", Verified),
            dkim("new", Verified),
            other(DnsRecordPurpose::Spf, Verified),
            other(DnsRecordPurpose::Dmarc, Missing),
        ],
        NOW,
        WEEK,
    );
    let next = &checked.next;
    assert_eq!(checked.activated, ["new"]);
    assert_eq!(state_of(next, "new"), Some(DkimKeyState::Active));
    assert_eq!(
        state_of(next, "ed"),
        Some(DkimKeyState::Active),
        "other algorithm stays"
    );
    assert_eq!(state_of(next, "old"), Some(DkimKeyState::Retiring));
    let old = next
        .keys
        .iter()
        .find(|k| k.info.selector == "old")
        .expect("old");
    assert_eq!(old.retire_at, Some(NOW + WEEK));
    let new = next
        .keys
        .iter()
        .find(|k| k.info.selector == "new")
        .expect("new");
    assert_eq!(new.activated_at, Some(NOW));
    // The retiring key's record is reported, no longer required; DMARC is not required.
    let required: Vec<(Option<&str>, bool)> = next
        .verification
        .checks
        .iter()
        .map(|c| (c.selector.as_deref(), c.required))
        .collect();
    assert!(required.contains(&(Some("old"), false)));
    assert!(required.contains(&(Some("new"), true)));
    assert_eq!(next.verification.status, DomainStatus::Verified);
    assert_eq!(next.verification.last_checked_at, Some(NOW));
    assert!(checked.failed.is_none());
    // Active keys first.
    assert_eq!(next.keys[2].info.selector, "old");
}

#[test]
fn an_unpublished_pending_key_waits_and_does_not_block_verification() {
    let before = domain(
        vec![
            key("cur", Rsa, DkimKeyState::Active),
            key("next", Rsa, DkimKeyState::Pending),
        ],
        DomainStatus::Unverified,
    );
    let checked = apply_checks(
        &before,
        vec![
            dkim("cur", Verified),
            dkim("next", Missing),
            other(DnsRecordPurpose::Spf, Verified),
        ],
        NOW,
        WEEK,
    );
    assert_eq!(state_of(&checked.next, "next"), Some(DkimKeyState::Pending));
    assert_eq!(state_of(&checked.next, "cur"), Some(DkimKeyState::Active));
    assert_eq!(checked.next.verification.status, DomainStatus::Verified);
    assert_eq!(checked.next.verification.verified_at, Some(NOW));
    assert!(checked.activated.is_empty());
}

#[test]
fn retiring_keys_are_dropped_after_the_overlap() {
    let mut retiring = key("old", Rsa, DkimKeyState::Retiring);
    retiring.retire_at = Some(NOW - time::Duration::seconds(1));
    let mut young = key("young", Rsa, DkimKeyState::Retiring);
    young.retire_at = Some(NOW + time::Duration::days(1));
    let before = domain(
        vec![key("cur", Rsa, DkimKeyState::Active), retiring, young],
        DomainStatus::Verified,
    );
    let checked = apply_checks(
        &before,
        vec![
            dkim("cur", Verified),
            dkim("old", Verified),
            dkim("young", Missing),
            other(DnsRecordPurpose::Spf, Verified),
        ],
        NOW,
        WEEK,
    );
    assert_eq!(state_of(&checked.next, "old"), None);
    assert_eq!(
        state_of(&checked.next, "young"),
        Some(DkimKeyState::Retiring)
    );
    assert!(
        checked
            .next
            .verification
            .checks
            .iter()
            .all(|c| c.selector.as_deref() != Some("old"))
    );
    // A retiring record removed early is reported but does not unverify the domain.
    assert_eq!(checked.next.verification.status, DomainStatus::Verified);
    assert!(checked.failed.is_none());
}

#[test]
fn losing_a_required_record_unverifies_and_names_it() {
    let before = domain(
        vec![key("cur", Rsa, DkimKeyState::Active)],
        DomainStatus::Verified,
    );
    let checked = apply_checks(
        &before,
        vec![
            dkim("cur", Missing),
            other(DnsRecordPurpose::Spf, Mismatch),
            other(DnsRecordPurpose::Dmarc, Verified),
        ],
        NOW,
        WEEK,
    );
    assert_eq!(checked.next.verification.status, DomainStatus::Unverified);
    assert_eq!(checked.next.verification.verified_at, None);
    let failed = checked.failed.expect("event");
    assert_eq!(failed.name, "acme.test");
    let names: Vec<(DnsRecordPurpose, DnsCheckStatus)> = failed
        .failed_records
        .iter()
        .map(|c| (c.purpose, c.status))
        .collect();
    assert_eq!(
        names,
        [
            (DnsRecordPurpose::Dkim, Missing),
            (DnsRecordPurpose::Spf, Mismatch)
        ]
    );

    // Already unverified: no second event.
    let again = apply_checks(&checked.next, vec![dkim("cur", Missing)], NOW, WEEK);
    assert!(again.failed.is_none());
}

#[test]
fn failed_lookups_leave_the_status_alone() {
    for status in [DomainStatus::Verified, DomainStatus::Unverified] {
        let before = domain(vec![key("cur", Rsa, DkimKeyState::Active)], status);
        let checked = apply_checks(
            &before,
            vec![
                dkim("cur", LookupFailed),
                other(DnsRecordPurpose::Spf, Verified),
            ],
            NOW,
            WEEK,
        );
        assert_eq!(checked.next.verification.status, status);
        assert!(checked.failed.is_none());
        assert_eq!(checked.next.verification.last_checked_at, Some(NOW));
    }
}

#[test]
fn verified_at_is_kept_while_the_domain_stays_verified() {
    let mut before = domain(
        vec![key("cur", Rsa, DkimKeyState::Active)],
        DomainStatus::Verified,
    );
    let first = NOW - time::Duration::days(3);
    before.verification.verified_at = Some(first);
    let checked = apply_checks(
        &before,
        vec![
            dkim("cur", Verified),
            other(DnsRecordPurpose::Spf, Verified),
        ],
        NOW,
        WEEK,
    );
    assert_eq!(checked.next.verification.verified_at, Some(first));
}

#[test]
fn rotation_picks_the_algorithm_and_refuses_a_second_pending_key() {
    let single = domain(
        vec![key("a", Ed, DkimKeyState::Active)],
        DomainStatus::Verified,
    );
    assert_eq!(rotation_algorithm(&single, None), Ok(Ed));
    assert_eq!(rotation_algorithm(&single, Some(Rsa)), Ok(Rsa));
    let dual = domain(
        vec![
            key("a", Rsa, DkimKeyState::Active),
            key("b", Ed, DkimKeyState::Active),
        ],
        DomainStatus::Verified,
    );
    assert_eq!(
        rotation_algorithm(&dual, None),
        Err(RotateError::AlgorithmRequired)
    );
    assert_eq!(rotation_algorithm(&dual, Some(Ed)), Ok(Ed));
    let pending = domain(
        vec![
            key("a", Rsa, DkimKeyState::Active),
            key("p", Rsa, DkimKeyState::Pending),
        ],
        DomainStatus::Verified,
    );
    assert_eq!(
        rotation_algorithm(&pending, Some(Rsa)),
        Err(RotateError::PendingExists("p".into()))
    );
}

#[test]
fn selectors_carry_the_date_and_are_unique() {
    let taken_one = new_selector(NOW, &[]);
    assert!(taken_one.starts_with("sluice20261122"), "{taken_one}");
    assert_eq!(taken_one.len(), "sluice20261122".len() + 4);
    assert!(
        taken_one
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    );
    for _ in 0..50 {
        assert_ne!(new_selector(NOW, &[&taken_one]), taken_one);
    }
}
