//! What a relay's certificate is verified against: the Mozilla roots
//! (webpki-roots, built into lettre's rustls backend) plus, optionally, the
//! operator's own certificate authorities (`delivery.relay_ca_file`, and
//! `delivery.tls_extra_roots` for MX hosts under an MTA-STS policy), so a private
//! relay with an internal CA is verified rather than trusted blindly.

use std::fmt;

use lettre::transport::smtp::client::{Certificate, TlsParameters};

use crate::SmtpError;

/// Trust anchors for verified relay TLS; the default is the Mozilla roots alone.
#[derive(Clone, Default)]
pub struct RelayTrust {
    extra: Vec<Certificate>,
}

impl fmt::Debug for RelayTrust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RelayTrust")
            .field("extra_ca", &self.extra.len())
            .finish()
    }
}

impl RelayTrust {
    /// The Mozilla roots plus every certificate in `pem` (one or more
    /// `-----BEGIN CERTIFICATE-----` blocks). Checked now, so a bad file stops the
    /// start instead of failing every delivery.
    pub fn with_pem(pem: &[u8]) -> Result<Self, SmtpError> {
        Self::default().and_pem(pem)
    }

    /// These roots plus every certificate in `pem` (see [`Self::with_pem`]).
    pub fn and_pem(mut self, pem: &[u8]) -> Result<Self, SmtpError> {
        const MARKER: &[u8] = b"-----BEGIN CERTIFICATE-----";
        if !pem.windows(MARKER.len()).any(|w| w == MARKER) {
            return Err(SmtpError::Tls("no PEM certificate found".to_owned()));
        }
        let certificate = Certificate::from_pem(pem).map_err(|e| SmtpError::Tls(format!("{e}")))?;
        self.extra.push(certificate);
        // lettre adds the roots only when building parameters: do it once now.
        self.parameters("relay.invalid", true)?;
        Ok(self)
    }

    /// TLS parameters for `host`; without `verify`, any certificate is accepted
    /// (opportunistic TLS to MX hosts, or a relay marked `insecure`).
    pub(crate) fn parameters(&self, host: &str, verify: bool) -> Result<TlsParameters, SmtpError> {
        let mut builder = TlsParameters::builder(host.to_owned())
            .dangerous_accept_invalid_certs(!verify)
            .dangerous_accept_invalid_hostnames(!verify);
        if verify {
            for certificate in &self.extra {
                builder = builder.add_root_certificate(certificate.clone());
            }
        }
        builder
            .build_rustls()
            .map_err(|e| SmtpError::Tls(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_without_certificates_is_refused() {
        assert!(RelayTrust::with_pem(b"not a certificate").is_err());
        let garbage = b"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n";
        assert!(RelayTrust::with_pem(garbage).is_err());
    }
}
