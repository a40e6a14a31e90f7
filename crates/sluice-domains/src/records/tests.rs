#![allow(clippy::unwrap_used)]

use sluice_model::DkimAlgorithm;

use super::*;

const NAME: &str = "s1._domainkey.acme.test";
const RSA_KEY: &str = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAq1w2e3r4t5y6u7i8o9p0AQAB";

fn rsa() -> DkimInfo {
    DkimInfo {
        selector: "s1".into(),
        algorithm: DkimAlgorithm::RsaSha256,
        public_key: RSA_KEY.into(),
    }
}

fn found(values: &[&str]) -> TxtLookup {
    TxtLookup::Found(values.iter().map(|v| v.to_string()).collect())
}

#[test]
fn dkim_verifies_whatever_the_formatting() {
    let half = RSA_KEY.len() / 2;
    for record in [
        format!("v=DKIM1; k=rsa; p={RSA_KEY}"),
        // Tag order, spacing, no trailing separator, upper-case tag names.
        format!("p={RSA_KEY};k=rsa;v=DKIM1"),
        format!(
            "  v=DKIM1 ;  K=rsa ;\tP= {} {} ;",
            &RSA_KEY[..half],
            &RSA_KEY[half..]
        ),
        // k= omitted: rsa by default.
        format!("v=DKIM1; p={RSA_KEY}"),
        // Quotes pasted into a DNS host's box and stored literally.
        format!(
            "\"v=DKIM1; k=rsa; p={}\" \"{}\"",
            &RSA_KEY[..half],
            &RSA_KEY[half..]
        ),
    ] {
        let check = check_dkim(NAME, &rsa(), true, &found(&[&record]));
        assert_eq!(
            check.status,
            DnsCheckStatus::Verified,
            "{record}: {check:?}"
        );
        assert_eq!(check.selector.as_deref(), Some("s1"));
        assert!(check.required);
    }
}

#[test]
fn dkim_verifies_among_other_txt_records() {
    let good = format!("v=DKIM1; k=rsa; p={RSA_KEY}");
    let check = check_dkim(
        NAME,
        &rsa(),
        true,
        &found(&[
            "google-site-verification=abc",
            "v=DKIM1; k=rsa; p=MIIBother",
            &good,
        ]),
    );
    assert_eq!(check.status, DnsCheckStatus::Verified);
}

#[test]
fn dkim_mismatch_says_what_was_found() {
    let other = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAzzzzzzzzzzzzzzzzzzzAQAB";
    let check = check_dkim(
        NAME,
        &rsa(),
        true,
        &found(&[&format!("v=DKIM1; k=rsa; p={other}")]),
    );
    assert_eq!(check.status, DnsCheckStatus::Mismatch);
    assert_eq!(check.found, [format!("v=DKIM1; k=rsa; p={other}")]);
    let detail = check.detail.unwrap();
    assert!(detail.contains("MIIBIjANBgkq…zzzzAQAB"), "{detail}");

    let wrong_type = check_dkim(
        NAME,
        &rsa(),
        true,
        &found(&[&format!("v=DKIM1; k=ed25519; p={RSA_KEY}")]),
    );
    assert_eq!(wrong_type.status, DnsCheckStatus::Mismatch);
    assert!(wrong_type.detail.unwrap().contains("k= is ed25519"));

    let revoked = check_dkim(NAME, &rsa(), true, &found(&["v=DKIM1; k=rsa; p="]));
    assert_eq!(revoked.status, DnsCheckStatus::Mismatch);
    assert!(revoked.detail.unwrap().contains("revoked"));

    let not_dkim = check_dkim(NAME, &rsa(), true, &found(&["hello world"]));
    assert_eq!(not_dkim.status, DnsCheckStatus::Mismatch);
    assert_eq!(not_dkim.found, ["hello world"]);
}

#[test]
fn dkim_missing_and_failed_lookups_are_told_apart() {
    let missing = check_dkim(NAME, &rsa(), false, &TxtLookup::NotFound);
    assert_eq!(missing.status, DnsCheckStatus::Missing);
    assert!(!missing.required);
    assert!(missing.found.is_empty());
    assert_eq!(missing.expected, format!("v=DKIM1; k=rsa; p={RSA_KEY}"));

    let failed = check_dkim(NAME, &rsa(), true, &TxtLookup::Failed("SERVFAIL".into()));
    assert_eq!(failed.status, DnsCheckStatus::LookupFailed);
    assert_eq!(failed.detail.as_deref(), Some("SERVFAIL"));
}

#[test]
fn spf_must_include_the_operator_domain_once() {
    let include = "_spf.mta.sluice.test";
    let verified = [
        "v=spf1 include:_spf.mta.sluice.test ~all",
        "v=spf1 mx +include:_SPF.mta.sluice.test. -all",
        "v=spf1 redirect=_spf.mta.sluice.test",
        "\"v=spf1 ip4:192.0.2.1 \" \"include:_spf.mta.sluice.test ~all\"",
    ];
    for record in verified {
        let check = check_spf("acme.test", include, &found(&[record, "other=1"]));
        assert_eq!(check.status, DnsCheckStatus::Verified, "{record}");
        assert_eq!(check.expected, "include:_spf.mta.sluice.test");
        assert_eq!(check.found.len(), 1);
    }
    for record in [
        "v=spf1 include:_spf.google.com ~all",
        // Negated or neutral: not an authorization.
        "v=spf1 -include:_spf.mta.sluice.test ~all",
        "v=spf1 ?include:_spf.mta.sluice.test ~all",
        // A longer name that merely starts the same.
        "v=spf1 include:_spf.mta.sluice.test.evil ~all",
    ] {
        let check = check_spf("acme.test", include, &found(&[record]));
        assert_eq!(check.status, DnsCheckStatus::Mismatch, "{record}");
        assert_eq!(check.found, [record]);
    }
    let two = check_spf(
        "acme.test",
        include,
        &found(&[
            "v=spf1 include:_spf.mta.sluice.test ~all",
            "v=spf1 include:_spf.google.com ~all",
        ]),
    );
    assert_eq!(two.status, DnsCheckStatus::Mismatch);
    assert!(two.detail.unwrap().contains("several"));
    // `v=spf10` is not SPF; other TXT records do not count.
    let none = check_spf(
        "acme.test",
        include,
        &found(&["v=spf10 include:x", "site=1"]),
    );
    assert_eq!(none.status, DnsCheckStatus::Missing);
    assert_eq!(
        check_spf("acme.test", include, &TxtLookup::NotFound).status,
        DnsCheckStatus::Missing
    );
}

#[test]
fn dmarc_needs_one_record_with_a_policy() {
    let suggested = "v=DMARC1; p=none";
    let ok = check_dmarc(
        "_dmarc.acme.test",
        suggested,
        &found(&["v=DMARC1; p=reject; rua=mailto:d@acme.test"]),
    );
    assert_eq!(ok.status, DnsCheckStatus::Verified);
    assert!(!ok.required, "DMARC does not block verification");
    let no_policy = check_dmarc("_dmarc.acme.test", suggested, &found(&["v=DMARC1; rua=x"]));
    assert_eq!(no_policy.status, DnsCheckStatus::Mismatch);
    let missing = check_dmarc("_dmarc.acme.test", suggested, &found(&["p=none"]));
    assert_eq!(missing.status, DnsCheckStatus::Missing);
    let two = check_dmarc(
        "_dmarc.acme.test",
        suggested,
        &found(&["v=DMARC1; p=none", "v=DMARC1; p=reject"]),
    );
    assert_eq!(two.status, DnsCheckStatus::Mismatch);
}

#[test]
fn unquote_joins_pasted_strings() {
    assert_eq!(unquote("plain"), "plain");
    assert_eq!(unquote("\"a b\" \"c\""), "a bc");
    assert_eq!(unquote("\"a\"\"b\""), "ab");
    assert_eq!(unquote("x=\"unterminated"), "x=unterminated");
}
