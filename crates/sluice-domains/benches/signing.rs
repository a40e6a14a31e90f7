//! DKIM signing cost per message on this machine: Sluice's signer (AWS-LC for RSA)
//! against mail-auth's ring RSA key, and Ed25519, on a 3 KB message.
//!
//!     cargo bench -p sluice-domains --bench signing
//!
//! A plain timing loop (no criterion: nothing to build for `cargo test`). Each line
//! is one core's figure; the process runs one signature at a time.

use std::time::{Duration, Instant};

use mail_auth::common::crypto::{RsaKey, Sha256};
use mail_auth::dkim::Canonicalization;
use sluice_domains::dkim::{DkimSigner, SIGNED_HEADERS, generate_key};
use sluice_model::DkimAlgorithm;

const RUN: Duration = Duration::from_secs(3);

fn main() {
    let message = message(3 * 1024);
    let rsa = generate_key(DkimAlgorithm::RsaSha256).expect("an RSA key");
    let ed25519 = generate_key(DkimAlgorithm::Ed25519Sha256).expect("an Ed25519 key");

    let sluice_rsa = DkimSigner::new(
        "example.com",
        "s1",
        DkimAlgorithm::RsaSha256,
        &rsa.private_key_pkcs8_der,
    )
    .expect("the RSA signer");
    #[allow(deprecated)] // the thin PKCS#8 wrapper, as Sluice used it before AWS-LC
    let ring_key = RsaKey::<Sha256>::from_pkcs8_der(&rsa.private_key_pkcs8_der).expect("ring key");
    let ring_rsa = mail_auth::dkim::DkimSigner::from_key(ring_key)
        .domain("example.com")
        .selector("s1")
        .headers(SIGNED_HEADERS.iter().chain(SIGNED_HEADERS).copied())
        .header_canonicalization(Canonicalization::Relaxed)
        .body_canonicalization(Canonicalization::Relaxed);
    let sluice_ed25519 = DkimSigner::new(
        "example.com",
        "s2",
        DkimAlgorithm::Ed25519Sha256,
        &ed25519.private_key_pkcs8_der,
    )
    .expect("the Ed25519 signer");

    println!(
        "DKIM signing, {} byte message, one core ({})",
        message.len(),
        cpu_model()
    );
    let aws = time("rsa-sha256, AWS-LC (Sluice)", || {
        sluice_rsa.sign_into(&message).expect("signed");
    });
    let ring = time("rsa-sha256, ring (mail-auth)", || {
        ring_rsa.sign(&message).expect("signed");
    });
    time("ed25519-sha256 (Sluice)", || {
        sluice_ed25519.sign_into(&message).expect("signed");
    });
    println!("AWS-LC / ring time per RSA signature: {:.2}", aws / ring);
}

/// Runs `sign` for [`RUN`] after a short warm-up; prints and returns µs per call.
fn time(name: &str, mut sign: impl FnMut()) -> f64 {
    let warm = Instant::now();
    while warm.elapsed() < Duration::from_millis(300) {
        sign();
    }
    let (start, mut calls) = (Instant::now(), 0u64);
    while start.elapsed() < RUN {
        sign();
        calls += 1;
    }
    let micros = start.elapsed().as_secs_f64() * 1e6 / calls as f64;
    println!(
        "  {name:<32} {micros:>8.1} µs/signature  {:>8.0}/s",
        1e6 / micros
    );
    micros
}

fn message(size: usize) -> Vec<u8> {
    let mut out = b"From: Shop <orders@example.com>\r\nTo: <a@example.net>\r\n\
Subject: Your order\r\nDate: Sun, 06 Dec 2026 10:00:00 +0000\r\n\
Message-ID: <1@example.com>\r\nMIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\n\r\n"
        .to_vec();
    let line = b"your order has shipped and will arrive soon, track the parcel here\r\n";
    while out.len() < size {
        out.extend_from_slice(line);
    }
    out
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}
