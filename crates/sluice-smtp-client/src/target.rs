//! Where to relay: a host, how the session is secured, and as whom.
//!
//! A [`RelayTarget`] is also the pool's key (see [`RelayTarget::pool_key`]): two
//! sends to the same target share connections and the same concurrency cap.

use std::fmt;
use std::net::IpAddr;

use crate::SmtpError;
use crate::error::{CredentialsPolicyError, DecodeError, UrlError};

/// How the SMTP session is secured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TlsMode {
    /// Plain text, never STARTTLS (local relays, tests).
    None,
    /// STARTTLS when the server offers it, without certificate verification:
    /// RFC 7435 opportunistic security. MX hosts commonly present self-signed or
    /// mismatched certificates, and refusing them would only push the mail back
    /// to plain text. If the handshake itself fails, the session is retried in
    /// plain text on a fresh connection (as Postfix does at its `may` level).
    #[default]
    Opportunistic,
    /// STARTTLS is required and the certificate is verified (unless
    /// [`RelayTarget::accept_invalid_certs`]); a server not offering it fails
    /// the attempt (transient, as a TLS-required Postfix defers). What an
    /// `smtp://` relay with credentials gets.
    StartTls,
    /// TLS from the first byte ("smtps", port 465, RFC 8314), verified like `StartTls`.
    Implicit,
}

/// One relay destination: a smart host from configuration or an MX host found
/// by routing, plus the local identity used to reach it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RelayTarget {
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    /// `(user, password)` for SMTP AUTH (PLAIN or LOGIN).
    pub credentials: Option<(String, String)>,
    /// Local address to bind (IP pools); `None` lets the OS choose.
    pub source_ip: Option<IpAddr>,
    /// Name announced in EHLO; should resolve back to `source_ip` (FCrDNS).
    pub helo_name: String,
    /// Accept self-signed or mismatched certificates even when TLS is required
    /// (self-signed test relays). With credentials only for a loopback relay.
    pub accept_invalid_certs: bool,
    /// A destination's own messages-per-connection limit (a provider's), below the
    /// pool's; `None` uses the pool's. Not part of the pool key.
    pub max_messages_per_connection: Option<usize>,
    /// The name the server's certificate must match (and the TLS SNI) when it is
    /// not `host`: an MX host reached by address under an MTA-STS policy is
    /// verified against its MX host name (RFC 8461 §4.2). `None`: `host`.
    pub tls_name: Option<String>,
}

/// The identity of a pooled connection: everything that makes two sessions
/// interchangeable. The password and the EHLO name are deliberately not part of
/// it (one relay account and one EHLO name per source IP in practice), so the
/// per-destination concurrency cap cannot be split by them.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PoolKey {
    host: String,
    port: u16,
    source_ip: Option<IpAddr>,
    tls: TlsMode,
    user: Option<String>,
    /// A session set up without certificate checks must never serve a target
    /// that asked for them.
    insecure: bool,
    /// A session verified for one name must not serve a target verified for another.
    tls_name: Option<String>,
}

impl RelayTarget {
    /// A plain target with opportunistic STARTTLS, no AUTH and no source binding.
    pub fn new(host: impl Into<String>, port: u16, helo_name: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            port,
            tls: TlsMode::Opportunistic,
            credentials: None,
            source_ip: None,
            helo_name: helo_name.into(),
            accept_invalid_certs: false,
            max_messages_per_connection: None,
            tls_name: None,
        }
    }

    /// The name certificates are verified against: [`Self::tls_name`], else `host`.
    pub fn tls_name(&self) -> &str {
        self.tls_name.as_deref().unwrap_or(&self.host)
    }

    /// Parses a relay URL:
    ///
    /// - `smtp://host[:port]` (default port 25, opportunistic STARTTLS),
    /// - `smtp+starttls://…` or `smtp://…?tls=required` (STARTTLS required),
    /// - `smtp://…?tls=none` (never STARTTLS),
    /// - `smtps://host[:port]` (default port 465, implicit TLS),
    /// - `user:pass@` (percent-decoded) for AUTH,
    /// - `?insecure=true` accepts invalid certificates (self-signed relays, tests).
    ///
    /// Credentials are only ever sent over TLS whose certificate verified (against
    /// the Mozilla roots and `delivery.relay_ca_file`): with `user:pass@`, `smtp://`
    /// means STARTTLS required, `tls=opportunistic` is refused, and `tls=none` or
    /// `insecure=true` are refused too — except for a loopback relay (`127.0.0.0/8`,
    /// `::1`, `localhost`), where they are allowed as an explicit choice: that
    /// traffic never leaves the machine, and anyone able to read or impersonate it
    /// already controls the host (a local Postfix or stunnel sidecar that relays
    /// onwards is the usual case). Without an opt-out, even a loopback relay gets
    /// verified STARTTLS.
    ///
    /// Errors quote the URL with its password replaced by `***`, because they end
    /// up in logs and API responses.
    pub fn from_url(url: &str, helo_name: &str) -> Result<Self, SmtpError> {
        let shown = redact(url);
        let bad = |reason: UrlError| SmtpError::InvalidUrl {
            url: shown.clone(),
            reason,
        };
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad(UrlError::NoScheme))?;
        let (mut tls, default_port) = match scheme.to_ascii_lowercase().as_str() {
            "smtp" => (TlsMode::Opportunistic, 25),
            "smtp+starttls" => (TlsMode::StartTls, 25),
            "smtps" => (TlsMode::Implicit, 465),
            other => return Err(bad(UrlError::Scheme(other.to_owned()))),
        };
        let (before_query, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, path) = before_query.split_once('/').unwrap_or((before_query, ""));
        if !path.is_empty() {
            return Err(bad(UrlError::Path));
        }
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((userinfo, hostport)) => (Some(userinfo), hostport),
            None => (None, authority),
        };
        let credentials = match userinfo {
            None => None,
            Some(info) => {
                let (user, pass) = info.split_once(':').unwrap_or((info, ""));
                let user = percent_decode(user).map_err(|e| bad(UrlError::User(e)))?;
                let pass = percent_decode(pass).map_err(|e| bad(UrlError::Password(e)))?;
                if user.is_empty() {
                    return Err(bad(UrlError::EmptyUser));
                }
                Some((user, pass))
            }
        };
        let (host, port) = split_host_port(hostport).map_err(&bad)?;
        let port = port.unwrap_or(default_port);

        let mut accept_invalid_certs = false;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "tls" if scheme.eq_ignore_ascii_case("smtp") => {
                    tls = match value {
                        "required" | "starttls" => TlsMode::StartTls,
                        "opportunistic" | "may" => TlsMode::Opportunistic,
                        "none" | "off" => TlsMode::None,
                        other => return Err(bad(UrlError::TlsValue(other.to_owned()))),
                    };
                }
                "tls" => return Err(bad(UrlError::TlsScheme(scheme.to_owned()))),
                "insecure" => {
                    accept_invalid_certs = match value {
                        "true" | "1" | "yes" | "" => true,
                        "false" | "0" | "no" => false,
                        other => return Err(bad(UrlError::Insecure(other.to_owned()))),
                    };
                }
                other => return Err(bad(UrlError::Parameter(other.to_owned()))),
            }
        }

        let target = Self {
            host,
            port,
            tls,
            credentials,
            source_ip: None,
            helo_name: helo_name.to_owned(),
            accept_invalid_certs,
            max_messages_per_connection: None,
            tls_name: None,
        };
        target
            .check_credentials_policy(query)
            .map_err(|e| bad(UrlError::Credentials(e)))
    }

    /// See [`Self::from_url`]: credentials need verified TLS, unless a loopback
    /// relay explicitly opts out.
    fn check_credentials_policy(mut self, query: &str) -> Result<Self, CredentialsPolicyError> {
        if self.credentials.is_none() {
            return Ok(self);
        }
        let opportunistic_asked = query
            .split('&')
            .any(|p| matches!(p, "tls=opportunistic" | "tls=may"));
        let loopback = self.is_loopback();
        if self.tls == TlsMode::Opportunistic && opportunistic_asked {
            return Err(CredentialsPolicyError::Opportunistic);
        }
        if self.tls == TlsMode::None && !loopback {
            return Err(CredentialsPolicyError::PlainText);
        }
        if self.accept_invalid_certs && !loopback {
            return Err(CredentialsPolicyError::Unverified);
        }
        if self.tls == TlsMode::Opportunistic {
            // Opportunistic TLS falls back to plain text and skips verification.
            self.tls = TlsMode::StartTls;
        }
        Ok(self)
    }

    /// The pool key; see [`PoolKey`] for what is and is not part of it.
    pub fn pool_key(&self) -> PoolKey {
        PoolKey {
            host: self.host.to_ascii_lowercase(),
            port: self.port,
            source_ip: self.source_ip,
            tls: self.tls,
            user: self.credentials.as_ref().map(|(user, _)| user.clone()),
            insecure: self.accept_invalid_certs,
            tls_name: self.tls_name.as_ref().map(|n| n.to_ascii_lowercase()),
        }
    }

    /// `host:port` (plus `from <ip>` when bound), for logs and pool statistics.
    pub fn label(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match self.source_ip {
            Some(ip) => format!("{host}:{} from {ip}", self.port),
            None => format!("{host}:{}", self.port),
        }
    }

    /// True for `localhost` and loopback addresses, where traffic never leaves
    /// the machine.
    pub(crate) fn is_loopback(&self) -> bool {
        self.host.eq_ignore_ascii_case("localhost")
            || self.host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }

    /// Whether credentials may go without verified TLS: only to a loopback relay
    /// whose URL opted out explicitly (`tls=none` or `insecure=true`).
    pub(crate) fn may_skip_verified_tls(&self) -> bool {
        self.is_loopback() && (self.tls == TlsMode::None || self.accept_invalid_certs)
    }
}

/// Never prints the password.
impl fmt::Debug for RelayTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RelayTarget")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("user", &self.credentials.as_ref().map(|(u, _)| u))
            .field("source_ip", &self.source_ip)
            .field("helo_name", &self.helo_name)
            .field("accept_invalid_certs", &self.accept_invalid_certs)
            .field("tls_name", &self.tls_name)
            .finish()
    }
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`.
fn split_host_port(s: &str) -> Result<(String, Option<u16>), UrlError> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or(UrlError::UnterminatedBracket)?;
        if host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(UrlError::NotIpv6(host.to_owned()));
        }
        match after {
            "" => (host, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None => return Err(UrlError::AfterBracket),
            },
        }
    } else {
        match s.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (s, None),
        }
    };
    if host.is_empty() {
        return Err(UrlError::MissingHost);
    }
    if host.contains(['/', '@', ' ', '?', '#']) {
        return Err(UrlError::InvalidHost(host.to_owned()));
    }
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(0) | Err(_) => return Err(UrlError::InvalidPort(p.to_owned())),
            Ok(p) => Some(p),
        },
    };
    Ok((host.to_owned(), port))
}

fn percent_decode(s: &str) -> Result<String, DecodeError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or(DecodeError::BadEscape)?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    // The bytes may be a password: keep only where decoding failed, never them.
    String::from_utf8(out).map_err(|e| DecodeError::NotUtf8(e.utf8_error()))
}

/// The URL with the password (if any) replaced by `***`.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        // No authority to find: hide everything after a would-be '@'.
        return match url.rsplit_once('@') {
            Some((_, host)) => format!("***@{host}"),
            None => url.to_owned(),
        };
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            let masked = if userinfo.contains(':') { ":***" } else { "" };
            format!("{scheme}://{user}{masked}@{host}{tail}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn parse(url: &str) -> Result<RelayTarget, SmtpError> {
        RelayTarget::from_url(url, "mta.example.test")
    }

    #[test]
    fn smtp_defaults() {
        let t = parse("smtp://relay.example.test").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("relay.example.test", 25));
        assert_eq!(t.tls, TlsMode::Opportunistic);
        assert!(t.credentials.is_none() && !t.accept_invalid_certs);
        assert_eq!(t.helo_name, "mta.example.test");
        assert_eq!(parse("smtp://relay.example.test:2525/").unwrap().port, 2525);
    }

    #[test]
    fn tls_variants() {
        assert_eq!(
            parse("smtp+starttls://h:587").unwrap().tls,
            TlsMode::StartTls
        );
        assert_eq!(
            parse("smtp://h:587?tls=required").unwrap().tls,
            TlsMode::StartTls
        );
        assert_eq!(parse("smtp://h?tls=none").unwrap().tls, TlsMode::None);
        let t = parse("smtps://h").unwrap();
        assert_eq!((t.tls, t.port), (TlsMode::Implicit, 465));
        assert!(parse("smtps://h?tls=none").is_err());
        assert!(parse("smtp://h?tls=maybe").is_err());
        assert!(
            parse("smtp://h?insecure=true")
                .unwrap()
                .accept_invalid_certs
        );
        assert!(parse("smtp://h?insecure=perhaps").is_err());
        assert!(parse("smtp://h?bogus=1").is_err());
    }

    #[test]
    fn credentials_require_verified_tls_except_on_loopback_by_choice() {
        // Plain smtp:// with credentials means STARTTLS required and verified.
        let t = parse("smtp://u:p@relay.example.test:587").unwrap();
        assert_eq!(t.tls, TlsMode::StartTls);
        assert!(!t.accept_invalid_certs && !t.may_skip_verified_tls());
        assert_eq!(
            parse("smtps://u:p@relay.example.test").unwrap().tls,
            TlsMode::Implicit
        );
        for url in [
            "smtp://u:hunter2@relay.example.test?tls=none",
            "smtp://u:hunter2@relay.example.test?tls=opportunistic",
            "smtp://u:hunter2@relay.example.test?tls=required&insecure=true",
            "smtps://u:hunter2@10.0.0.5?insecure=1",
            "smtp://u:hunter2@127.0.0.1?tls=may",
        ] {
            let err = parse(url).expect_err(url).to_string();
            assert!(
                err.contains("credentials need verified TLS"),
                "{url}: {err}"
            );
            assert!(!err.contains("hunter2"), "{err}");
        }
        // Loopback: verified STARTTLS unless the URL opts out explicitly.
        let local = parse("smtp://u:p@127.0.0.1:2525").unwrap();
        assert_eq!(local.tls, TlsMode::StartTls);
        assert!(!local.may_skip_verified_tls());
        assert!(
            parse("smtp://u:p@127.0.0.1:2525?tls=none")
                .unwrap()
                .may_skip_verified_tls()
        );
        assert!(
            parse("smtp://u:p@[::1]:587?tls=required&insecure=1")
                .unwrap()
                .may_skip_verified_tls()
        );
        // Without credentials nothing changes.
        assert_eq!(
            parse("smtp://relay.example.test").unwrap().tls,
            TlsMode::Opportunistic
        );
        assert!(parse("smtp://relay.example.test?insecure=1").is_ok());
    }

    #[test]
    fn credentials_are_percent_decoded() {
        let t = parse("smtp://us%40er:p%3Ass%2Fw@[::1]:587?tls=required&insecure=1").unwrap();
        assert_eq!(
            t.credentials,
            Some(("us@er".to_owned(), "p:ss/w".to_owned()))
        );
        assert_eq!((t.host.as_str(), t.port), ("::1", 587));
        assert_eq!(t.label(), "[::1]:587");
        assert!(!format!("{t:?}").contains("p:ss/w"));
        assert!(parse("smtp://u:%zz@h").is_err());
    }

    #[test]
    fn bad_urls_are_refused_without_leaking_the_password() {
        for url in [
            "http://user:hunter2@relay:25",
            "smtp://user:hunter2@relay:notaport",
            "smtp://user:hunter2@relay:0",
            "smtp://user:hunter2@",
            "smtp://user:hunter2@relay/path",
            "smtp://user:hunter2@relay?insecure=maybe",
            "smtp://user:hunter2@[::1",
            "user:hunter2@relay",
        ] {
            let err = parse(url).expect_err(url).to_string();
            assert!(!err.contains("hunter2"), "{url}: {err}");
            assert!(!err.is_empty());
        }
        let err = parse("http://user:hunter2@relay:25")
            .unwrap_err()
            .to_string();
        assert!(err.contains("http://user:***@relay:25"), "{err}");
        assert!(err.contains("unsupported scheme"), "{err}");
    }

    #[test]
    fn pool_key_ignores_password_and_helo_but_not_identity() {
        let a = parse("smtp://u:one@h:25").unwrap();
        let mut b = parse("smtp://u:two@H:25").unwrap();
        b.helo_name = "other.test".into();
        assert_eq!(a.pool_key(), b.pool_key());
        let mut c = a.clone();
        c.source_ip = Some("127.0.0.2".parse().unwrap());
        assert_ne!(a.pool_key(), c.pool_key());
        let mut d = a.clone();
        d.accept_invalid_certs = true;
        assert_ne!(a.pool_key(), d.pool_key());
    }
}
