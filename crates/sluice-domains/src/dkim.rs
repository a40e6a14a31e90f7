//! DKIM (RFC 6376, RFC 8463): per-domain keys, signing, and the DNS records a tenant
//! publishes so that receivers can check SPF, DKIM and DMARC.
//!
//! Signing is CPU work (an RSA-2048 signature costs 0.27–0.7 ms on one core depending
//! on the CPU, see [`key`], and it is the throughput ceiling of delivery), so callers
//! run [`DkimSigner::sign`] off the async reactor (`spawn_blocking` or a dedicated pool) and sign each message once,
//! not once per attempt.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use mail_auth::common::crypto::Ed25519Key;
use mail_auth::common::headers::HeaderWriter as _;
use mail_auth::dkim::{Canonicalization, Done};
use rsa::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _};
use sluice_model::{DkimAlgorithm, DkimInfo, DnsRecord, DnsRecordPurpose, DomainName};

mod key;
use key::{Key, RsaKey};

/// RSA modulus size for new keys: the size every receiver accepts and RFC 8301
/// recommends; 1024-bit keys are treated as weak by Gmail and others.
pub const RSA_KEY_BITS: usize = 2048;

/// Headers covered by the signature, with relaxed/relaxed canonicalization.
///
/// Every name is signed twice ("oversigned"). A name listed more often than it
/// occurs is signed as absent (RFC 6376 §5.4.2), so nobody can add a second From,
/// Subject or List-Unsubscribe in transit without breaking the signature; and headers
/// a message does not carry (Cc, Reply-To, List-Unsubscribe, …) are signed as absent
/// rather than breaking signing.
pub const SIGNED_HEADERS: &[&str] = &[
    "From",
    "To",
    "Cc",
    "Reply-To",
    "Subject",
    "Date",
    "Message-ID",
    "MIME-Version",
    "Content-Type",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "Auto-Submitted",
];

/// Room reserved in [`DkimSigner::sign_into`] for the header: an RSA-2048 signature
/// with the oversigned header list is about 750 bytes folded.
const SIGNATURE_HEADER_ESTIMATE: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum DkimError {
    /// The sources differ by algorithm (the `rsa` crate's, its DER encoders', ring's).
    #[error("generating a {algorithm} key failed: {source}")]
    KeyGeneration {
        algorithm: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("the private key is not a usable {algorithm} key: {source}")]
    InvalidKey {
        algorithm: &'static str,
        #[source]
        source: mail_auth::Error,
    },
    #[error("{0:?} is not a valid signing domain")]
    InvalidDomain(String),
    #[error(
        "{0:?} is not a valid DKIM selector (dot-separated labels of letters, digits and inner hyphens)"
    )]
    InvalidSelector(String),
    #[error("the message has no From header, which a DKIM signature must cover")]
    NoFromHeader,
    #[error("DKIM signing failed: {0}")]
    Sign(#[source] mail_auth::Error),
}

/// A freshly generated key pair. The private half is what [`DkimSigner::new`] takes
/// and what gets stored (encrypted at rest by the caller); the public half is what
/// the tenant publishes after `p=`.
#[derive(Clone)]
pub struct GeneratedKey {
    pub private_key_pkcs8_der: Vec<u8>,
    /// RSA: the SubjectPublicKeyInfo DER, base64 (`MIIBIj…`), which is what every
    /// verifier and DNS host expects. Ed25519: the raw 32-byte key, base64 (RFC 8463).
    pub public_key_b64: String,
}

/// Never prints the private key, so a stray `{:?}` cannot leak it into logs.
impl fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedKey")
            .field("private_key_pkcs8_der", &"<redacted>")
            .field("public_key_b64", &self.public_key_b64)
            .finish()
    }
}

/// Generates a signing key. RSA generation takes 0.1–1 s: run it off the reactor.
pub fn generate_key(algorithm: DkimAlgorithm) -> Result<GeneratedKey, DkimError> {
    let failed = |source: Box<dyn std::error::Error + Send + Sync>| DkimError::KeyGeneration {
        algorithm: algorithm.as_str(),
        source,
    };
    match algorithm {
        DkimAlgorithm::RsaSha256 => {
            // ring cannot generate RSA keys; the pure-Rust `rsa` crate can (it is only
            // slow at signing, which ring does).
            let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, RSA_KEY_BITS)
                .map_err(|e| failed(e.into()))?;
            let private_der = private.to_pkcs8_der().map_err(|e| failed(e.into()))?;
            let public_der = private
                .to_public_key()
                .to_public_key_der()
                .map_err(|e| failed(e.into()))?;
            Ok(GeneratedKey {
                private_key_pkcs8_der: private_der.as_bytes().to_vec(),
                public_key_b64: STANDARD.encode(public_der.as_bytes()),
            })
        }
        DkimAlgorithm::Ed25519Sha256 => {
            let private_der = Ed25519Key::generate_pkcs8().map_err(|e| failed(e.into()))?;
            let key = Ed25519Key::from_pkcs8_der(&private_der).map_err(|e| failed(e.into()))?;
            Ok(GeneratedKey {
                private_key_pkcs8_der: private_der,
                public_key_b64: STANDARD.encode(key.public_key()),
            })
        }
    }
}

/// A parsed key bound to a domain and selector. Parsing a key is far more expensive
/// than signing with it, so build one per (domain, selector) and share it in an
/// `Arc`; it is `Send + Sync` and signing takes `&self`.
pub struct DkimSigner {
    inner: mail_auth::dkim::DkimSigner<Key, Done>,
    domain: DomainName,
    selector: String,
    algorithm: DkimAlgorithm,
}

const _: () = {
    const fn shareable<T: Send + Sync>() {}
    shareable::<DkimSigner>();
};

impl fmt::Debug for DkimSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DkimSigner")
            .field("domain", &self.domain)
            .field("selector", &self.selector)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl DkimSigner {
    /// `private_key_pkcs8_der` is what [`generate_key`] returns. RSA keys imported in
    /// PKCS#1 form (`BEGIN RSA PRIVATE KEY`, the older OpenSSL default) are accepted
    /// too. Ed25519 keys are parsed leniently because ring refuses some PKCS#8 v1
    /// keys that OpenSSL writes.
    pub fn new(
        domain: &str,
        selector: &str,
        algorithm: DkimAlgorithm,
        private_key_pkcs8_der: &[u8],
    ) -> Result<Self, DkimError> {
        let domain =
            DomainName::parse(domain).map_err(|_| DkimError::InvalidDomain(domain.to_string()))?;
        if !is_valid_selector(selector) {
            return Err(DkimError::InvalidSelector(selector.to_string()));
        }
        let invalid = |source: mail_auth::Error| DkimError::InvalidKey {
            algorithm: algorithm.as_str(),
            source,
        };
        let key = match algorithm {
            DkimAlgorithm::RsaSha256 => {
                Key::Rsa(RsaKey::from_der(private_key_pkcs8_der).map_err(invalid)?)
            }
            DkimAlgorithm::Ed25519Sha256 => Key::Ed25519(
                Ed25519Key::from_pkcs8_maybe_unchecked_der(private_key_pkcs8_der)
                    .map_err(invalid)?,
            ),
        };
        let inner = mail_auth::dkim::DkimSigner::from_key(key)
            .domain(domain.as_str())
            .selector(selector)
            .headers(SIGNED_HEADERS.iter().chain(SIGNED_HEADERS).copied())
            .header_canonicalization(Canonicalization::Relaxed)
            .body_canonicalization(Canonicalization::Relaxed);
        Ok(Self {
            inner,
            domain,
            selector: selector.to_string(),
            algorithm,
        })
    }

    pub fn domain(&self) -> &DomainName {
        &self.domain
    }

    pub fn selector(&self) -> &str {
        &self.selector
    }

    pub fn algorithm(&self) -> DkimAlgorithm {
        self.algorithm
    }

    /// Returns the complete `DKIM-Signature: …\r\n` header, folded, to prepend to
    /// `message` (which must be in CRLF wire form, as `sluice-delivery`'s
    /// `mime::build_message` produces). `t=` is the current time.
    pub fn sign(&self, message: &[u8]) -> Result<String, DkimError> {
        Ok(self.signature(message)?.to_header())
    }

    /// The signature header followed by the message, in one buffer: what the SMTP
    /// client sends, without a second copy of the message.
    pub fn sign_into(&self, message: &[u8]) -> Result<Vec<u8>, DkimError> {
        let signature = self.signature(message)?;
        let mut out = Vec::with_capacity(SIGNATURE_HEADER_ESTIMATE + message.len());
        signature.write_header(&mut out);
        out.extend_from_slice(message);
        Ok(out)
    }
}

impl DkimSigner {
    fn signature(&self, message: &[u8]) -> Result<mail_auth::dkim::Signature, DkimError> {
        // mail-auth signs absent headers as absent, so it would happily sign bytes
        // without a From; RFC 6376 §5.4 makes From mandatory, and a receiver would
        // reject such a signature anyway.
        if !has_from_header(message) {
            return Err(DkimError::NoFromHeader);
        }
        self.inner.sign(message).map_err(DkimError::Sign)
    }
}

fn has_from_header(message: &[u8]) -> bool {
    message
        .split(|&b| b == b'\n')
        .take_while(|line| !matches!(line, [] | [b'\r']))
        .any(|line| {
            line.get(..5)
                .is_some_and(|name| name.eq_ignore_ascii_case(b"from:"))
        })
}

/// PKCS#8 first (what Sluice generates), then PKCS#1.
fn is_valid_selector(selector: &str) -> bool {
    selector.len() <= 253 && selector.split('.').all(sluice_model::net::is_ldh_label)
}

/// Operator-level settings that shape the DNS records tenants publish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsRecordSettings {
    /// The domain tenants `include:` in SPF (covers the pool IPs), e.g. `spf.sluice.example`.
    pub spf_include: String,
    /// The bounce domain the tenant's `bounces.` CNAME points at, so that the
    /// envelope sender (return path) aligns with the tenant's domain for DMARC.
    pub return_path_target: String,
    /// Where aggregate DMARC reports go (`rua=`), if the operator collects them.
    /// A bare address or a `mailto:` URI.
    pub dmarc_rua: Option<String>,
}

/// The DKIM TXT record value: `v=DKIM1; k=<rsa|ed25519>; p=<key>`.
///
/// An RSA-2048 value is about 410 characters, longer than one 255-byte TXT string;
/// DNS hosts split it into several strings, which verifiers concatenate.
pub fn dkim_record_value(dkim: &DkimInfo) -> String {
    format!(
        "v=DKIM1; k={}; p={}",
        dkim.algorithm.key_type(),
        dkim.public_key
    )
}

/// The SPF record suggested for a tenant's domain. Verification requires only the
/// `include:` in whatever SPF record the domain has (it may authorize others too).
pub fn spf_record_value(settings: &DnsRecordSettings) -> String {
    format!("v=spf1 include:{} ~all", settings.spf_include)
}

/// The DMARC record suggested for a tenant's domain. It starts at `p=none` so that a
/// misconfiguration is reported, not enforced, while the tenant's other senders are
/// brought into line.
pub fn dmarc_record_value(settings: &DnsRecordSettings) -> String {
    let mut dmarc = String::from("v=DMARC1; p=none; adkim=r; aspf=r");
    if let Some(rua) = settings.dmarc_rua.as_deref() {
        let has_scheme = rua
            .get(..7)
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("mailto:"));
        dmarc.push_str("; rua=");
        if !has_scheme {
            dmarc.push_str("mailto:");
        }
        dmarc.push_str(rua);
    }
    dmarc
}

/// The TXT record that publishes one DKIM key.
pub fn dkim_dns_record(domain: &DomainName, dkim: &DkimInfo) -> DnsRecord {
    DnsRecord {
        record_type: "TXT".into(),
        name: format!("{}._domainkey.{domain}", dkim.selector),
        value: dkim_record_value(dkim),
        purpose: DnsRecordPurpose::Dkim,
    }
}

/// The records a tenant publishes for `domain`: one DKIM record per key in `dkim`
/// (in that order), SPF, DMARC, and the return-path CNAME.
pub fn dns_records(
    domain: &DomainName,
    dkim: &[DkimInfo],
    settings: &DnsRecordSettings,
) -> Vec<DnsRecord> {
    let record = |record_type: &str, name: String, value: String, purpose| DnsRecord {
        record_type: record_type.to_string(),
        name,
        value,
        purpose,
    };
    let mut records: Vec<DnsRecord> = dkim.iter().map(|k| dkim_dns_record(domain, k)).collect();
    records.extend([
        record(
            "TXT",
            domain.to_string(),
            spf_record_value(settings),
            DnsRecordPurpose::Spf,
        ),
        record(
            "TXT",
            format!("_dmarc.{domain}"),
            dmarc_record_value(settings),
            DnsRecordPurpose::Dmarc,
        ),
        record(
            "CNAME",
            format!("bounces.{domain}"),
            settings.return_path_target.clone(),
            DnsRecordPurpose::ReturnPath,
        ),
    ]);
    records
}

#[cfg(test)]
mod tests;
