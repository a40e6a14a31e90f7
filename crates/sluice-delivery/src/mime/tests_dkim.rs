//! DKIM signatures over messages as [`build_message`] makes them, checked by an
//! independent verifier (dkimpy): the boundary between MIME building here and
//! signing in `sluice-domains`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use sluice_domains::dkim::{
    DkimSigner, GeneratedKey, SIGNED_HEADERS, dkim_record_value, generate_key,
};
use sluice_model::{
    Attachment, DkimAlgorithm, DkimInfo, HeaderName, HeaderValue, Mailbox, MessageStream,
    OutboundMessage,
};
use time::macros::datetime;

use crate::mime::{MimeEnvelopeInfo, build_message};

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

fn txt_record(algorithm: DkimAlgorithm) -> String {
    dkim_record_value(&DkimInfo {
        selector: SELECTOR.into(),
        algorithm,
        public_key: key(algorithm).public_key_b64.clone(),
    })
}

fn mbox(value: &str) -> Mailbox {
    Mailbox::parse(value).expect("test mailbox")
}

/// What a tenant really sends: non-ASCII subject and names, both bodies, a custom
/// header, an attachment, and Sluice's own List-Unsubscribe headers.
fn realistic_message() -> Vec<u8> {
    let message = OutboundMessage {
        from: mbox("Acme Büro <noreply@acme.test>"),
        to: vec![
            mbox("Jane Doe <jane@example.com>"),
            mbox("山田 <taro@example.jp>"),
        ],
        cc: vec![mbox("audit@acme.test")],
        bcc: vec![mbox("hidden@example.org")],
        reply_to: Some(mbox("Support <support@acme.test>")),
        subject: "Grüße – 日本語: your receipt #1234 for the order placed yesterday evening".into(),
        text: Some("Hello Jane,\n\nThanks for your order. Grüße!\n".repeat(20)),
        html: Some(format!(
            "<p>{}</p>",
            "Thanks for your order. Grüße! ".repeat(60)
        )),
        headers: vec![(
            HeaderName::parse("X-Campaign").expect("name"),
            HeaderValue::parse("receipts-2026 (spring edition)").expect("value"),
        )],
        attachments: vec![Attachment {
            filename: "Rechnung März.pdf".into(),
            content_type: "application/pdf".into(),
            content: (0..=255u8).cycle().take(4000).collect(),
        }],
        stream: MessageStream::Transactional,
        tags: vec![],
        metadata: BTreeMap::new(),
        send_at: None,
        raw: None,
    };
    let extra = vec![
        (
            "List-Unsubscribe".to_string(),
            "<https://sluice.example/u/abc>".to_string(),
        ),
        (
            "List-Unsubscribe-Post".to_string(),
            "List-Unsubscribe=One-Click".to_string(),
        ),
    ];
    build_message(
        &message,
        &MimeEnvelopeInfo {
            message_id: "msg_01jdx8k3m5n6p7q8r9s0t1v2w3@acme.test",
            date: datetime!(2026-01-02 03:04:05 UTC),
            extra_headers: &extra,
        },
    )
    .expect("build_message")
}

/// The least a message carries: no Cc, Reply-To or List-* headers, which are still
/// named in `h=` and must not break signing or verification.
fn minimal_message() -> Vec<u8> {
    let message = OutboundMessage {
        from: mbox("noreply@acme.test"),
        to: vec![mbox("jane@example.com")],
        cc: vec![],
        bcc: vec![],
        reply_to: None,
        subject: "Your code".into(),
        text: Some("123456".into()),
        html: None,
        headers: vec![],
        attachments: vec![],
        stream: MessageStream::Transactional,
        tags: vec![],
        metadata: BTreeMap::new(),
        send_at: None,
        raw: None,
    };
    build_message(
        &message,
        &MimeEnvelopeInfo {
            message_id: "msg_01jdx8k3m5n6p7q8r9s0t1v2w4@acme.test",
            date: datetime!(2026-01-02 03:04:05 UTC),
            extra_headers: &[],
        },
    )
    .expect("build_message")
}

#[derive(Debug)]
enum Verdict {
    Pass,
    Fail(String),
}

/// Runs tests/support/dkim_verify.py (dkimpy). A missing interpreter or module is a
/// test failure with instructions, never a skip: a skipped independent check is no
/// check at all.
fn dkimpy(signed: &[u8], txt: &str) -> Verdict {
    let dir = tempfile::tempdir().expect("tempdir");
    let eml = dir.path().join("signed.eml");
    std::fs::write(&eml, signed).expect("write eml");
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/support/dkim_verify.py");
    let python = std::env::var("SLUICE_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let output = Command::new(&python)
        .arg(&script)
        .arg(&eml)
        .arg(txt)
        .arg(format!("{SELECTOR}._domainkey.{DOMAIN}"))
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {python:?} ({e}). The DKIM tests need Python 3 with dkimpy: \
                 run `pip install dkimpy pynacl`, or point SLUICE_TEST_PYTHON at an \
                 interpreter that has them"
            )
        });
    let stdout = String::from_utf8_lossy(&output.stdout).trim().to_string();
    let stderr = String::from_utf8_lossy(&output.stderr);
    match (output.status.code(), stdout.as_str()) {
        (Some(0), "PASS") => Verdict::Pass,
        (Some(1), fail) if fail.starts_with("FAIL") => Verdict::Fail(fail.to_string()),
        _ => panic!(
            "dkim_verify.py could not verify (status {:?}): {stdout}\n{stderr}\n\
             The DKIM tests need Python 3 with dkimpy: run `pip install dkimpy pynacl` \
             (with {python:?}, or set SLUICE_TEST_PYTHON)",
            output.status.code()
        ),
    }
}

fn assert_dkimpy_passes(algorithm: DkimAlgorithm, message: &[u8]) {
    let signed = signer(algorithm).sign_into(message).expect("sign");
    match dkimpy(&signed, &txt_record(algorithm)) {
        Verdict::Pass => {}
        Verdict::Fail(reason) => panic!(
            "dkimpy rejected the {} signature: {reason}\n{}",
            algorithm.as_str(),
            String::from_utf8_lossy(&signed)
        ),
    }
}

#[test]
fn dkimpy_verifies_rsa_signatures() {
    assert_dkimpy_passes(DkimAlgorithm::RsaSha256, &realistic_message());
    assert_dkimpy_passes(DkimAlgorithm::RsaSha256, &minimal_message());
}

#[test]
fn dkimpy_verifies_ed25519_signatures() {
    assert_dkimpy_passes(DkimAlgorithm::Ed25519Sha256, &realistic_message());
    assert_dkimpy_passes(DkimAlgorithm::Ed25519Sha256, &minimal_message());
}

/// Proves the independent check can fail: one changed body byte, and an added
/// header that was signed as absent.
#[test]
fn dkimpy_rejects_tampered_messages() {
    for algorithm in [DkimAlgorithm::RsaSha256, DkimAlgorithm::Ed25519Sha256] {
        let signed = signer(algorithm)
            .sign_into(&realistic_message())
            .expect("sign");
        let txt = txt_record(algorithm);

        let mut body_tampered = signed.clone();
        let body_start = body_tampered
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("body")
            + 4;
        let at = body_tampered[body_start..]
            .iter()
            .position(u8::is_ascii_alphabetic)
            .expect("a letter in the body")
            + body_start;
        body_tampered[at] ^= 0x20; // flip the case of one letter
        assert!(
            matches!(dkimpy(&body_tampered, &txt), Verdict::Fail(reason) if reason.contains("body hash")),
            "{}: a changed body must fail",
            algorithm.as_str()
        );

        let mut header_added = b"Reply-To: attacker@evil.test\r\n".to_vec();
        header_added.extend_from_slice(&signed);
        // The real Reply-To is oversigned, so a second one breaks the signature.
        assert!(
            matches!(dkimpy(&header_added, &txt), Verdict::Fail(_)),
            "{}: an added Reply-To must fail",
            algorithm.as_str()
        );

        let other = generate_key(algorithm).expect("second key");
        let wrong_key = dkim_record_value(&DkimInfo {
            selector: SELECTOR.into(),
            algorithm,
            public_key: other.public_key_b64,
        });
        assert!(
            matches!(dkimpy(&signed, &wrong_key), Verdict::Fail(_)),
            "{}: another key must fail",
            algorithm.as_str()
        );
    }
}

#[test]
fn signature_header_shape() {
    let message = minimal_message();
    let signer = signer(DkimAlgorithm::RsaSha256);
    let header = signer.sign(&message).expect("sign");
    assert!(
        header.starts_with(
            "DKIM-Signature: v=1; a=rsa-sha256; s=sluice20260102; d=acme.test; c=relaxed/relaxed;"
        ),
        "{header}"
    );
    assert!(header.ends_with(";\r\n"), "{header:?}");
    // mail-auth folds everything after the first line (v, a, s, d, c) at 76.
    for line in header.split("\r\n").skip(1).filter(|l| !l.is_empty()) {
        assert!(line.len() <= 78, "unfolded line: {line:?}");
    }
    let unfolded = header.replace("\r\n\t", " ");
    let h = unfolded
        .split(';')
        .map(str::trim)
        .find_map(|tag| tag.strip_prefix("h="))
        .expect("h= tag");
    let signed: Vec<&str> = h.split(':').collect();
    for name in SIGNED_HEADERS {
        let count = signed
            .iter()
            .filter(|n| n.trim().eq_ignore_ascii_case(name))
            .count();
        assert_eq!(count, 2, "{name} is oversigned in {h}");
    }

    let combined = signer.sign_into(&message).expect("sign_into");
    let (head, rest) = combined.split_at(combined.len() - message.len());
    assert_eq!(rest, message.as_slice());
    assert!(head.starts_with(b"DKIM-Signature: v=1; a=rsa-sha256;"));
    assert!(head.ends_with(b";\r\n"));

    let ed = self::signer(DkimAlgorithm::Ed25519Sha256)
        .sign(&message)
        .expect("sign");
    assert!(
        ed.starts_with("DKIM-Signature: v=1; a=ed25519-sha256;"),
        "{ed}"
    );
}

#[test]
fn signer_accepts_pkcs1_rsa_keys() {
    use rsa::pkcs1::EncodeRsaPrivateKey as _;
    use rsa::pkcs8::DecodePrivateKey as _;
    let private =
        rsa::RsaPrivateKey::from_pkcs8_der(&rsa_key().private_key_pkcs8_der).expect("PKCS#8");
    let pkcs1 = private.to_pkcs1_der().expect("PKCS#1");
    let signer = DkimSigner::new(DOMAIN, SELECTOR, DkimAlgorithm::RsaSha256, pkcs1.as_bytes())
        .expect("PKCS#1 key");
    let signed = signer.sign_into(&minimal_message()).expect("sign");
    assert!(matches!(
        dkimpy(&signed, &txt_record(DkimAlgorithm::RsaSha256)),
        Verdict::Pass
    ));
}

/// `cargo test -p sluice-delivery --lib -- --ignored --nocapture mime::tests_dkim::throughput`
/// Dependencies build at opt-level 2 even in the dev profile, and nearly all the work
/// here is in them (mail-builder, ring), so the numbers are close to release.
#[test]
#[ignore = "measurement, not a check"]
fn throughput() {
    use std::time::Instant;
    let rounds = 2000;
    let started = Instant::now();
    let mut size = 0;
    for _ in 0..rounds {
        size = realistic_message().len();
    }
    let build = started.elapsed() / rounds;
    let message = realistic_message();
    println!("build_message: {build:?} per {size}-byte message");
    for algorithm in [DkimAlgorithm::RsaSha256, DkimAlgorithm::Ed25519Sha256] {
        let signer = signer(algorithm);
        let started = Instant::now();
        for _ in 0..rounds {
            signer.sign_into(&message).expect("sign");
        }
        let per = started.elapsed() / rounds;
        println!(
            "sign_into {}: {per:?} per message ({:.0}/s on one core)",
            algorithm.as_str(),
            1.0 / per.as_secs_f64()
        );
    }
    let started = Instant::now();
    let key = generate_key(DkimAlgorithm::RsaSha256).expect("key");
    println!("generate_key rsa: {:?}", started.elapsed());
    drop(key);
    println!(
        "{}",
        String::from_utf8_lossy(
            &signer(DkimAlgorithm::RsaSha256)
                .sign_into(&message)
                .expect("sign")
        )
        .split("\r\n\r\n")
        .next()
        .unwrap_or_default()
    );
}
