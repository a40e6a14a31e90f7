//! Keeping webhooks from reaching into the operator's network (SSRF).
//!
//! A tenant chooses the URL, and Sluice's workers usually sit inside a private
//! network next to Redis, metadata services and admin consoles. So, unless the
//! operator allows private targets (`webhook_allow_private`):
//!
//! - a URL must be `http` or `https`, and is refused at creation when its host is an
//!   address outside the public internet, or a name that resolves to one;
//! - at send time, every name is resolved by [`GuardedResolver`], which drops such
//!   addresses (a name may have been re-pointed since creation: DNS rebinding), and
//!   hosts written as IP literals — which the HTTP client connects to without
//!   resolving — are checked by [`check_target`];
//! - redirects are never followed (a public endpoint could redirect inwards).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

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

/// `false` for every address a webhook must not reach unless private targets are
/// allowed: unspecified, loopback, private (RFC 1918, fc00::/7), shared (CGNAT
/// 100.64/10), link-local, multicast, broadcast, documentation and benchmarking
/// ranges, reserved space, and IPv6 forms that embed such an IPv4 address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0 // "this network", incl. 0.0.0.0
        || a == 10
        || a == 127
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 169 && b == 254) // link-local (cloud metadata services)
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 168)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // TEST-NET-1
        || (a == 198 && b == 51 && c == 100) // TEST-NET-2
        || (a == 203 && b == 0 && c == 113) // TEST-NET-3
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast (deprecated)
        || a >= 224) // multicast, reserved, broadcast
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let segments = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    // NAT64 (64:ff9b::/96) carries an IPv4 address in its last 32 bits.
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_public_v4(embedded_v4(segments[6], segments[7]));
    }
    // 6to4 (2002::/16) carries one in bits 16..48.
    if segments[0] == 0x2002 {
        return is_public_v4(embedded_v4(segments[1], segments[2]));
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || segments[..6] == [0, 0, 0, 0, 0, 0] // IPv4-compatible (deprecated)
        || (segments[0] & 0xfe00) == 0xfc00 // unique local
        || (segments[0] & 0xffc0) == 0xfe80 // link-local
        || (segments[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (segments[0] & 0xff00) == 0xff00 // multicast
        || (segments[0] == 0x2001 && segments[1] == 0x0db8) // documentation
        || (segments[0] == 0x2001 && segments[1] == 0) // Teredo: hides the real target
        || (segments[0] == 0x0100 && segments[1..4] == [0, 0, 0])) // discard-only
}

fn embedded_v4(high: u16, low: u16) -> Ipv4Addr {
    let [a, b] = high.to_be_bytes();
    let [c, d] = low.to_be_bytes();
    Ipv4Addr::new(a, b, c, d)
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

/// The address of a host written as an IP literal (`[…]` for IPv6, as URLs have it;
/// the URL parser has already normalised forms like `0x7f000001`).
fn literal_ip(host: &str) -> Option<IpAddr> {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

fn is_local_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// At endpoint creation: refuses a name that resolves to any non-public address
/// (`Ok` when it does not resolve at all: the endpoint may not exist yet, and the
/// send-time resolver checks again anyway).
pub async fn check_resolves_publicly(url: &Url, allow_private: bool) -> Result<(), UrlError> {
    let Some(name) = url.host_str() else {
        return Ok(());
    };
    if allow_private || literal_ip(name).is_some() {
        return Ok(());
    }
    let port = url.port_or_known_default().unwrap_or(443);
    let lookup = tokio::net::lookup_host((name, port));
    match tokio::time::timeout(Duration::from_secs(3), lookup).await {
        Ok(Ok(addrs)) => match addrs.map(|a| a.ip()).find(|ip| !is_public(*ip)) {
            Some(ip) => Err(UrlError::Private(format!("{name} ({ip})"))),
            None => Ok(()),
        },
        _ => Ok(()),
    }
}

/// The error a refused name resolves to; the sender recognises it in the error chain.
#[derive(Debug, thiserror::Error)]
#[error("{0} resolves only to non-public addresses (set webhook_allow_private to allow)")]
pub struct Blocked(pub String);

/// The HTTP client's resolver: the system's, minus non-public addresses.
#[derive(Clone, Copy, Debug)]
pub struct GuardedResolver {
    pub allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|addr| allow_private || is_public(addr.ip()))
                .collect();
            if found.is_empty() {
                return Err(Box::new(Blocked(host)) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(found.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(text: &str) -> bool {
        is_public(text.parse().unwrap_or_else(|e| panic!("{text}: {e}")))
    }

    #[test]
    fn private_and_special_ipv4_ranges_are_refused() {
        for ip in [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "10.255.255.255",
            "127.0.0.1",
            "127.8.9.10",
            "100.64.0.1",
            "100.127.255.254",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "192.0.0.8",
            "192.0.2.10",
            "198.51.100.7",
            "203.0.113.9",
            "198.18.0.1",
            "198.19.255.255",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
        ] {
            assert!(!public(ip), "{ip} must be refused");
        }
    }

    #[test]
    fn public_ipv4_addresses_pass() {
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.255.255",
            "172.32.0.1",
            "192.169.0.1",
            "198.20.0.1",
            "223.255.255.254",
            "93.184.216.34",
        ] {
            assert!(public(ip), "{ip} must pass");
        }
    }

    #[test]
    fn ipv6_special_ranges_and_embedded_private_ipv4_are_refused() {
        for ip in [
            "::",
            "::1",
            "fc00::1",
            "fd12:3456:789a::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "2001:0:4136:e378::1",
            "100::1",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "::ffff:169.254.169.254",
            "64:ff9b::10.0.0.1",
            "2002:c0a8:0101::1",
            "::127.0.0.1",
        ] {
            assert!(!public(ip), "{ip} must be refused");
        }
        for ip in [
            "2606:4700:4700::1111",
            "2a00:1450:4001:82b::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:0808:0808::1",
        ] {
            assert!(public(ip), "{ip} must pass");
        }
    }

    #[test]
    fn urls_are_checked_for_scheme_and_literal_hosts() {
        assert!(parse_url("https://hooks.example.com/sluice?x=1", false).is_ok());
        assert!(parse_url("http://93.184.216.34:8080/h", false).is_ok());
        assert_eq!(
            parse_url("ftp://example.com/", false),
            Err(UrlError::Scheme)
        );
        assert_eq!(parse_url("not a url", false), Err(UrlError::Invalid));
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

    #[tokio::test]
    async fn the_resolver_drops_private_addresses() {
        let guarded = GuardedResolver {
            allow_private: false,
        };
        let name: Name = "localhost".parse().unwrap_or_else(|_| unreachable!());
        let error = match guarded.resolve(name).await {
            Ok(addrs) => panic!("resolved to {:?}", addrs.collect::<Vec<_>>()),
            Err(e) => e,
        };
        assert!(error.is::<Blocked>(), "{error}");

        let open = GuardedResolver {
            allow_private: true,
        };
        let name: Name = "localhost".parse().unwrap_or_else(|_| unreachable!());
        let addrs: Vec<SocketAddr> = match open.resolve(name).await {
            Ok(addrs) => addrs.collect(),
            Err(e) => panic!("{e}"),
        };
        assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
    }
}
