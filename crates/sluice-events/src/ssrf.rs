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

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
/// The classification itself lives in the model crate: MX delivery refuses the same
/// addresses (`delivery.allow_private_mx`).
pub use sluice_model::net::is_public;

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
