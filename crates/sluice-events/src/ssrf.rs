//! Keeping webhooks from reaching into the operator's network (SSRF).
//!
//! A tenant chooses the URL, and Sluice's workers usually sit inside a private
//! network next to Redis, metadata services and admin consoles. So, unless the
//! operator allows private targets (`webhook_allow_private`):
//!
//! - a URL must be `http` or `https`, and is refused at creation (by the API) when its
//!   host is an address outside the public internet, or a name that resolves to one
//!   (the URL rules are `sluice_model::webhook_url`);
//! - at send time, every name is resolved by [`GuardedResolver`], which drops such
//!   addresses (a name may have been re-pointed since creation: DNS rebinding), and
//!   hosts written as IP literals — which the HTTP client connects to without
//!   resolving — are checked by [`check_target`];
//! - redirects are never followed (a public endpoint could redirect inwards).

use std::net::SocketAddr;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
/// The classification itself lives in the model crate: MX delivery refuses the same
/// addresses (`delivery.allow_private_mx`), and the API checks URLs with the same
/// rules at creation.
pub use sluice_model::net::is_public;
pub use sluice_model::webhook_url::{UrlError, check_target, parse_url};

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
