//! Webhook signatures in the Standard Webhooks format (<https://www.standardwebhooks.com>).
//!
//! We follow the published spec instead of inventing a scheme so receivers can verify
//! our webhooks with any off-the-shelf Standard Webhooks library. The signed content is
//! `"{webhook-id}.{webhook-timestamp}.{body}"`, the MAC is HMAC-SHA256 keyed with the
//! base64-decoded part of the secret after `whsec_`, and the `webhook-signature` header
//! holds space-separated `v1,<base64>` values. Several values are what make secret
//! rotation painless: while an endpoint rotates, both the old and the new secret sign
//! every delivery, and a receiver that knows either one accepts it.
//!
//! The id and timestamp are inside the signed content so that a captured delivery cannot
//! be replayed later (the receiver checks the timestamp) or passed off as another event
//! (the receiver de-duplicates on the id).

use std::fmt;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// How far a delivery's timestamp may be from the receiver's clock; the spec's default.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(5 * 60);

const SECRET_PREFIX: &str = "whsec_";
const SIGNATURE_VERSION: &str = "v1";
/// Bounds recommended by the spec: shorter keys are guessable, longer ones buy nothing.
const MIN_KEY_BYTES: usize = 24;
const MAX_KEY_BYTES: usize = 64;
/// Length of secrets we generate: the HMAC-SHA256 block-size sweet spot.
const GENERATED_KEY_BYTES: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("webhook secret must start with \"whsec_\"")]
    MissingPrefix,
    #[error("webhook secret is not valid base64 after \"whsec_\"")]
    NotBase64,
    #[error("webhook secret must decode to between 24 and 64 bytes")]
    BadLength,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("no webhook secret to verify with")]
    NoSecrets,
    #[error("webhook-signature header has no v1 signature")]
    NoSignature,
    #[error("no signature matches any of the secrets")]
    Mismatch,
    #[error("webhook timestamp is older than the tolerance")]
    TimestampTooOld,
    #[error("webhook timestamp is further in the future than the tolerance")]
    TimestampInFuture,
}

/// A signing secret, `whsec_` + base64. Built only by [`WebhookSecret::generate`] or
/// [`WebhookSecret::parse`], so a value in hand always has a usable key. `Debug` never
/// prints the secret: it ends up in logs through config dumps and error contexts.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret {
    text: String,
    key: Vec<u8>,
}

impl WebhookSecret {
    /// A fresh secret of 32 bytes from the thread-local CSPRNG.
    pub fn generate() -> Self {
        let key: [u8; GENERATED_KEY_BYTES] = rand::random();
        Self {
            text: format!("{SECRET_PREFIX}{}", STANDARD.encode(key)),
            key: key.to_vec(),
        }
    }

    pub fn parse(value: &str) -> Result<Self, SecretError> {
        let encoded = value
            .strip_prefix(SECRET_PREFIX)
            .ok_or(SecretError::MissingPrefix)?;
        let key = STANDARD
            .decode(encoded)
            .map_err(|_| SecretError::NotBase64)?;
        if !(MIN_KEY_BYTES..=MAX_KEY_BYTES).contains(&key.len()) {
            return Err(SecretError::BadLength);
        }
        Ok(Self {
            text: value.to_string(),
            key,
        })
    }

    /// The secret as shown to the user once and stored; deliberately not `Display`.
    pub fn expose(&self) -> &str {
        &self.text
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(whsec_…)")
    }
}

fn mac(secret: &WebhookSecret, id: &str, timestamp_secs: i64, body: &[u8]) -> [u8; 32] {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(&secret.key).expect("HMAC accepts keys of any length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp_secs.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// One `v1,<base64>` signature value.
pub fn sign(secret: &WebhookSecret, id: &str, timestamp_secs: i64, body: &[u8]) -> String {
    let mac = mac(secret, id, timestamp_secs, body);
    format!("{SIGNATURE_VERSION},{}", STANDARD.encode(mac))
}

/// The `webhook-signature` header value: one signature per secret, space-separated.
pub fn signature_header(
    secrets: &[WebhookSecret],
    id: &str,
    timestamp_secs: i64,
    body: &[u8],
) -> String {
    secrets
        .iter()
        .map(|secret| sign(secret, id, timestamp_secs, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Checks a delivery the way a receiver would. Used by our own tests and tooling; the
/// comparison is constant-time so it is also safe to reuse on a real receiving side.
pub fn verify(
    secrets: &[WebhookSecret],
    id: &str,
    timestamp_secs: i64,
    body: &[u8],
    header: &str,
    now_secs: i64,
    tolerance: Duration,
) -> Result<(), VerifyError> {
    if secrets.is_empty() {
        return Err(VerifyError::NoSecrets);
    }
    let tolerance = i64::try_from(tolerance.as_secs()).unwrap_or(i64::MAX);
    if now_secs.saturating_sub(timestamp_secs) > tolerance {
        return Err(VerifyError::TimestampTooOld);
    }
    if timestamp_secs.saturating_sub(now_secs) > tolerance {
        return Err(VerifyError::TimestampInFuture);
    }
    // Other versions (v1a, asymmetric) are skipped rather than rejected, as the spec asks.
    let v1: Vec<&str> = header
        .split_ascii_whitespace()
        .filter_map(|value| value.split_once(','))
        .filter(|(version, _)| *version == SIGNATURE_VERSION)
        .map(|(_, signature)| signature)
        .collect();
    if v1.is_empty() {
        return Err(VerifyError::NoSignature);
    }
    let candidates: Vec<Vec<u8>> = v1
        .iter()
        .filter_map(|signature| STANDARD.decode(signature).ok())
        .collect();
    for secret in secrets {
        let expected = mac(secret, id, timestamp_secs, body);
        if candidates
            .iter()
            .any(|candidate| bool::from(candidate.as_slice().ct_eq(&expected)))
        {
            return Ok(());
        }
    }
    Err(VerifyError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SPEC_TIMESTAMP: i64 = 1_614_265_330;
    const SPEC_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SPEC_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn spec_secret() -> WebhookSecret {
        WebhookSecret::parse(SPEC_SECRET).expect("spec secret parses")
    }

    #[test]
    fn matches_the_spec_test_vector() {
        let signature = sign(&spec_secret(), SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY);
        assert_eq!(signature, SPEC_SIGNATURE);
    }

    #[test]
    fn verifies_the_spec_test_vector_within_tolerance() {
        let secrets = [spec_secret()];
        let verify_at = |now, header: &str| {
            verify(
                &secrets,
                SPEC_ID,
                SPEC_TIMESTAMP,
                SPEC_BODY,
                header,
                now,
                DEFAULT_TOLERANCE,
            )
        };
        assert_eq!(verify_at(SPEC_TIMESTAMP + 300, SPEC_SIGNATURE), Ok(()));
        assert_eq!(
            verify_at(SPEC_TIMESTAMP + 301, SPEC_SIGNATURE),
            Err(VerifyError::TimestampTooOld)
        );
        assert_eq!(
            verify_at(SPEC_TIMESTAMP - 301, SPEC_SIGNATURE),
            Err(VerifyError::TimestampInFuture)
        );
        assert_eq!(
            verify_at(
                SPEC_TIMESTAMP,
                "v1,g1hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
            ),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify_at(SPEC_TIMESTAMP, "v1,not-base64"),
            Err(VerifyError::Mismatch)
        );
        let rotated = format!("v1a,ignored v1,AAAA {SPEC_SIGNATURE}");
        assert_eq!(verify_at(SPEC_TIMESTAMP, &rotated), Ok(()));
        assert_eq!(
            verify_at(SPEC_TIMESTAMP, "v1a,abc v2,def"),
            Err(VerifyError::NoSignature)
        );
    }

    #[test]
    fn a_tampered_body_or_id_does_not_verify() {
        let secrets = [spec_secret()];
        let check = |id, body| {
            verify(
                &secrets,
                id,
                SPEC_TIMESTAMP,
                body,
                SPEC_SIGNATURE,
                SPEC_TIMESTAMP,
                DEFAULT_TOLERANCE,
            )
        };
        assert_eq!(
            check(SPEC_ID, br#"{"test": 2432232315}"#),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(check("msg_other", SPEC_BODY), Err(VerifyError::Mismatch));
    }

    #[test]
    fn rotation_signs_with_both_secrets_and_either_verifies() {
        let old = spec_secret();
        let new = WebhookSecret::generate();
        let header = signature_header(&[old.clone(), new.clone()], SPEC_ID, 10, SPEC_BODY);
        assert_eq!(header.split(' ').count(), 2);
        for secret in [old, new] {
            assert_eq!(
                verify(
                    &[secret],
                    SPEC_ID,
                    10,
                    SPEC_BODY,
                    &header,
                    10,
                    DEFAULT_TOLERANCE
                ),
                Ok(())
            );
        }
        let stranger = WebhookSecret::generate();
        assert_eq!(
            verify(
                &[stranger],
                SPEC_ID,
                10,
                SPEC_BODY,
                &header,
                10,
                DEFAULT_TOLERANCE
            ),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn generated_secrets_parse_back_and_never_print() {
        let secret = WebhookSecret::generate();
        assert!(secret.expose().starts_with("whsec_"));
        assert_eq!(WebhookSecret::parse(secret.expose()), Ok(secret.clone()));
        let debug = format!("{secret:?}");
        assert!(!debug.contains(&secret.expose()["whsec_".len()..]));
        assert_ne!(WebhookSecret::generate(), secret);
    }

    #[test]
    fn malformed_secrets_are_rejected() {
        assert_eq!(
            WebhookSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            Err(SecretError::MissingPrefix)
        );
        assert_eq!(
            WebhookSecret::parse("whsec_not base64!"),
            Err(SecretError::NotBase64)
        );
        assert_eq!(
            WebhookSecret::parse("whsec_c2hvcnQ="),
            Err(SecretError::BadLength)
        );
    }
}
