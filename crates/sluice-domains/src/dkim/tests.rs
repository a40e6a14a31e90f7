//! Keys, their parsing and the records to publish. Signing real messages as the
//! worker builds them, checked by an independent verifier (dkimpy), is tested beside
//! the MIME builder: `sluice-delivery`'s `mime/tests_dkim.rs`.

use std::sync::OnceLock;

use rsa::pkcs8::{DecodePrivateKey as _, DecodePublicKey as _};
use rsa::traits::PublicKeyParts as _;

use super::*;

const DOMAIN: &str = "acme.test";
const SELECTOR: &str = "sluice20260102";

/// RSA generation costs up to a second in a debug build: one key per test run.
fn rsa_key() -> &'static GeneratedKey {
    static KEY: OnceLock<GeneratedKey> = OnceLock::new();
    KEY.get_or_init(|| generate_key(DkimAlgorithm::RsaSha256).expect("RSA key"))
}

fn ed25519_key() -> &'static GeneratedKey {
    static KEY: OnceLock<GeneratedKey> = OnceLock::new();
    KEY.get_or_init(|| generate_key(DkimAlgorithm::Ed25519Sha256).expect("Ed25519 key"))
}

fn key(algorithm: DkimAlgorithm) -> &'static GeneratedKey {
    match algorithm {
        DkimAlgorithm::RsaSha256 => rsa_key(),
        DkimAlgorithm::Ed25519Sha256 => ed25519_key(),
    }
}

fn signer(algorithm: DkimAlgorithm) -> DkimSigner {
    DkimSigner::new(
        DOMAIN,
        SELECTOR,
        algorithm,
        &key(algorithm).private_key_pkcs8_der,
    )
    .expect("signer")
}

#[test]
fn generated_keys_have_the_published_formats() {
    let rsa = rsa_key();
    assert!(
        rsa.public_key_b64.starts_with("MIIBIj"),
        "{}",
        rsa.public_key_b64
    );
    let public_der = STANDARD.decode(&rsa.public_key_b64).expect("base64");
    let public = rsa::RsaPublicKey::from_public_key_der(&public_der).expect("SPKI");
    assert_eq!(public.size() * 8, RSA_KEY_BITS);
    let private = rsa::RsaPrivateKey::from_pkcs8_der(&rsa.private_key_pkcs8_der).expect("PKCS#8");
    assert_eq!(private.to_public_key(), public);

    let ed = ed25519_key();
    assert_eq!(
        STANDARD.decode(&ed.public_key_b64).expect("base64").len(),
        32
    );
    assert!(!format!("{ed:?}").contains(&format!("{:?}", &ed.private_key_pkcs8_der[..8])));
    assert!(format!("{rsa:?}").contains("<redacted>"));
}

#[test]
fn signer_refuses_bad_inputs() {
    let rsa = &rsa_key().private_key_pkcs8_der;
    let ed = &ed25519_key().private_key_pkcs8_der;
    for selector in ["", "a;b", "-a", "a..b", "sel ector", "s=x"] {
        assert!(
            matches!(
                DkimSigner::new(DOMAIN, selector, DkimAlgorithm::RsaSha256, rsa),
                Err(DkimError::InvalidSelector(_))
            ),
            "{selector:?}"
        );
    }
    for domain in ["", "localhost", "a;b.test", "bücher.example"] {
        assert!(
            matches!(
                DkimSigner::new(domain, SELECTOR, DkimAlgorithm::RsaSha256, rsa),
                Err(DkimError::InvalidDomain(_))
            ),
            "{domain:?}"
        );
    }
    assert!(matches!(
        DkimSigner::new(DOMAIN, SELECTOR, DkimAlgorithm::RsaSha256, ed),
        Err(DkimError::InvalidKey { .. })
    ));
    assert!(matches!(
        DkimSigner::new(DOMAIN, SELECTOR, DkimAlgorithm::Ed25519Sha256, rsa),
        Err(DkimError::InvalidKey { .. })
    ));
    assert!(matches!(
        DkimSigner::new(DOMAIN, SELECTOR, DkimAlgorithm::Ed25519Sha256, b"garbage"),
        Err(DkimError::InvalidKey { .. })
    ));
    let ed = signer(DkimAlgorithm::Ed25519Sha256);
    assert!(matches!(
        ed.sign(b"no headers here"),
        Err(DkimError::NoFromHeader)
    ));
    assert!(matches!(
        ed.sign(b"To: a@b.test\r\n\r\nFrom: not a header\r\n"),
        Err(DkimError::NoFromHeader)
    ));
    assert!(
        ed.sign(b"To: a@b.test\r\nfROM: a@b.test\r\n\r\nbody")
            .is_ok()
    );
}

#[test]
fn dns_records_cover_dkim_spf_dmarc_and_return_path() {
    let domain = DomainName::parse("acme.test").expect("domain");
    let dkim = DkimInfo {
        selector: "s1".into(),
        algorithm: DkimAlgorithm::RsaSha256,
        public_key: "MIIBIjANBg".into(),
    };
    let mut settings = DnsRecordSettings {
        spf_include: "spf.sluice.example".into(),
        return_path_target: "bounces.sluice.example".into(),
        dmarc_rua: None,
    };
    let records = dns_records(&domain, std::slice::from_ref(&dkim), &settings);
    let expected = [
        (
            "TXT",
            "s1._domainkey.acme.test",
            "v=DKIM1; k=rsa; p=MIIBIjANBg",
            DnsRecordPurpose::Dkim,
        ),
        (
            "TXT",
            "acme.test",
            "v=spf1 include:spf.sluice.example ~all",
            DnsRecordPurpose::Spf,
        ),
        (
            "TXT",
            "_dmarc.acme.test",
            "v=DMARC1; p=none; adkim=r; aspf=r",
            DnsRecordPurpose::Dmarc,
        ),
        (
            "CNAME",
            "bounces.acme.test",
            "bounces.sluice.example",
            DnsRecordPurpose::ReturnPath,
        ),
    ];
    assert_eq!(records.len(), expected.len());
    for (record, (record_type, name, value, purpose)) in records.iter().zip(expected) {
        assert_eq!(
            (
                record.record_type.as_str(),
                record.name.as_str(),
                record.value.as_str(),
                record.purpose
            ),
            (record_type, name, value, purpose)
        );
    }

    for rua in ["dmarc@reports.example", "mailto:dmarc@reports.example"] {
        settings.dmarc_rua = Some(rua.into());
        let ed = DkimInfo {
            algorithm: DkimAlgorithm::Ed25519Sha256,
            ..dkim.clone()
        };
        let records = dns_records(&domain, std::slice::from_ref(&ed), &settings);
        assert_eq!(records[0].value, "v=DKIM1; k=ed25519; p=MIIBIjANBg");
        assert_eq!(
            records[2].value,
            "v=DMARC1; p=none; adkim=r; aspf=r; rua=mailto:dmarc@reports.example"
        );
    }
}
