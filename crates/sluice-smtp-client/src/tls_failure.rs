//! Why a TLS negotiation failed, in the result types of TLS-RPT (RFC 8460 §4.3).
//!
//! lettre reports handshake and certificate failures as text (rustls's error
//! messages inside its own), so the text is all there is to classify; the
//! phrases matched are rustls's `CertificateError` displays and this crate's own.

use crate::{SessionTls, SmtpError};

/// A failed TLS negotiation, as RFC 8460 §4.3.1 names the kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TlsFailure {
    /// `starttls-not-supported`: the server did not offer STARTTLS.
    StartTlsNotSupported,
    /// `certificate-host-mismatch`: the certificate is not for the host name.
    CertificateHostMismatch,
    /// `certificate-expired` (or not valid yet).
    CertificateExpired,
    /// `certificate-not-trusted`: no chain to a trusted root.
    CertificateNotTrusted,
    /// `validation-failure`: any other handshake failure.
    ValidationFailure,
}

impl TlsFailure {
    /// The RFC 8460 `result-type`.
    pub fn result_type(self) -> &'static str {
        match self {
            Self::StartTlsNotSupported => "starttls-not-supported",
            Self::CertificateHostMismatch => "certificate-host-mismatch",
            Self::CertificateExpired => "certificate-expired",
            Self::CertificateNotTrusted => "certificate-not-trusted",
            Self::ValidationFailure => "validation-failure",
        }
    }

    /// Reads an error text (see the module doc).
    pub fn from_detail(detail: &str) -> Self {
        let lower = detail.to_ascii_lowercase();
        if lower.contains("does not offer starttls") {
            Self::StartTlsNotSupported
        } else if lower.contains("notvalidforname") || lower.contains("not valid for name") {
            Self::CertificateHostMismatch
        } else if lower.contains("expired") || lower.contains("notvalidyet") {
            Self::CertificateExpired
        } else if lower.contains("unknownissuer") || lower.contains("unknown issuer") {
            Self::CertificateNotTrusted
        } else {
            Self::ValidationFailure
        }
    }
}

impl SmtpError {
    /// The TLS failure behind this error, if TLS is what failed.
    pub fn tls_failure(&self) -> Option<TlsFailure> {
        match self {
            Self::Tls(detail) => Some(TlsFailure::from_detail(detail)),
            _ => None,
        }
    }
}

impl SessionTls {
    /// Why an opportunistic session is not encrypted (`None` when it is, or when
    /// TLS was off by configuration).
    pub fn failure(&self) -> Option<TlsFailure> {
        match self {
            Self::NotOffered => Some(TlsFailure::StartTlsNotSupported),
            Self::Failed(detail) => Some(TlsFailure::from_detail(detail)),
            Self::Off | Self::Encrypted => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rustls_and_own_texts_map_to_rfc_8460_result_types() {
        let kind = |t: &str| TlsFailure::from_detail(t).result_type();
        assert_eq!(
            kind("mx.test:25 does not offer STARTTLS, which is required"),
            "starttls-not-supported"
        );
        assert_eq!(
            kind(
                "certificate verification failed for 127.0.0.1:25: invalid peer certificate: certificate not valid for name \"mx.test\"; certificate is only valid for other.test"
            ),
            "certificate-host-mismatch"
        );
        assert_eq!(
            kind("invalid peer certificate: NotValidForName"),
            "certificate-host-mismatch"
        );
        assert_eq!(
            kind("invalid peer certificate: certificate expired: verification time 2"),
            "certificate-expired"
        );
        assert_eq!(
            kind("invalid peer certificate: UnknownIssuer"),
            "certificate-not-trusted"
        );
        assert_eq!(kind("handshake failed: eof"), "validation-failure");
    }
}
