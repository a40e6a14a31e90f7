//! What a webhook URL may point at, as far as the URL itself tells (SSRF).
//!
//! A tenant chooses the URL, and Sluice's workers usually sit inside a private
//! network next to Redis, metadata services and admin consoles. So, unless the
//! operator allows private targets (`webhook_allow_private`), a URL must be `http` or
//! `https`, and is refused when its host is an address outside the public internet
//! ([`crate::net::is_public`]) or a name that means this machine. What needs DNS —
//! a name that resolves to such an address — is checked by the API at creation and
//! by the webhook sender's resolver at send time; this module is the pure part both
//! share.

use std::net::IpAddr;

pub use url::Url;

use crate::net::is_public;

/// Why a webhook URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("must be an absolute http:// or https:// URL")]
    Invalid,
    #[error("must use http or https")]
    Scheme,
    #[error("must be at most 2048 characters")]
    TooLong,
    #[error("{0} is not a public internet address (private, loopback, link-local, …)")]
    Private(String),
}

/// Parses a webhook URL and checks what can be checked without DNS.
pub fn parse_url(text: &str, allow_private: bool) -> Result<Url, UrlError> {
    if text.len() > 2048 {
        return Err(UrlError::TooLong);
    }
    let url = Url::parse(text.trim()).map_err(|_| UrlError::Invalid)?;
    check_target(&url, allow_private)?;
    Ok(url)
}

/// The send-time check for what the resolver never sees: the scheme, IP-literal
/// hosts, and names that mean this machine.
pub fn check_target(url: &Url, allow_private: bool) -> Result<(), UrlError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(UrlError::Scheme);
    }
    let host = url.host_str().ok_or(UrlError::Invalid)?;
    if literal_ip(host).is_none() && !is_host_name(host) {
        return Err(UrlError::Invalid);
    }
    if allow_private {
        return Ok(());
    }
    match literal_ip(host) {
        Some(ip) if !is_public(ip) => Err(UrlError::Private(ip.to_string())),
        Some(_) => Ok(()),
        None if is_local_name(host) => Err(UrlError::Private(host.into())),
        None => Ok(()),
    }
}

/// The name a URL's host must be resolved by, or `None` when there is nothing to
/// resolve (no host, or an IP literal, which [`check_target`] has checked already).
pub fn host_to_resolve(url: &Url) -> Option<&str> {
    url.host_str().filter(|host| literal_ip(host).is_none())
}

/// The address of a host written as an IP literal (`[…]` for IPv6, as URLs have it;
/// the URL parser has already normalised forms like `0x7f000001`).
fn literal_ip(host: &str) -> Option<IpAddr> {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

/// A DNS host name: labels of letters, digits and inner hyphens (IDNs arrive in
/// their `xn--` form). The URL standard would also take `*`, `_` and more, which no
/// host name resolves to.
fn is_host_name(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    !host.is_empty() && host.split('.').all(crate::net::is_ldh_label)
}

fn is_local_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_for_scheme_and_literal_hosts() {
        assert!(parse_url("https://hooks.example.com/sluice?x=1", false).is_ok());
        assert!(parse_url("http://93.184.216.34:8080/h", false).is_ok());
        assert_eq!(
            parse_url("ftp://example.com/", false),
            Err(UrlError::Scheme)
        );
        assert_eq!(parse_url("not a url", false), Err(UrlError::Invalid));
        for bad_host in [
            "https://a*.example.com/",
            "https://a_b.example.com/",
            "https://-a.com/",
        ] {
            assert_eq!(
                parse_url(bad_host, true),
                Err(UrlError::Invalid),
                "{bad_host}"
            );
        }
        assert!(parse_url("https://bücher.example/", false).is_ok());
        assert_eq!(parse_url("/relative", false), Err(UrlError::Invalid));
        for private in [
            "http://127.0.0.1:9000/hook",
            "http://[::1]/hook",
            "http://169.254.169.254/latest/meta-data",
            "http://10.0.0.5/",
            "http://[::ffff:192.168.0.1]/",
            "http://localhost:8080/",
            "http://api.localhost/",
            "http://0x7f000001/",
            "http://2130706433/",
        ] {
            assert!(
                matches!(parse_url(private, false), Err(UrlError::Private(_))),
                "{private} must be refused"
            );
            assert!(parse_url(private, true).is_ok(), "{private} allowed");
        }
        let long = format!("https://example.com/{}", "a".repeat(2100));
        assert_eq!(parse_url(&long, false), Err(UrlError::TooLong));
    }

    #[test]
    fn only_names_are_resolved() {
        let url = |text| Url::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(
            host_to_resolve(&url("https://hooks.example.com/x")),
            Some("hooks.example.com")
        );
        assert_eq!(host_to_resolve(&url("http://93.184.216.34/")), None);
        assert_eq!(host_to_resolve(&url("http://[2001:db8::1]/")), None);
    }
}
