//! Where mail for a domain goes (DESIGN.md, Delivery; issue 3 item 1).
//!
//! - [`Router`] decides the [`Route`] from configuration alone: a per-domain
//!   relay (exact or `*.` wildcard), else the default relay, else direct MX
//!   delivery on `delivery.mx_port`.
//! - [`MxResolver`] turns a domain into the [`MxHost`]s to try, in order,
//!   following RFC 5321 §5.1 (preference order, implicit MX) and RFC 7505
//!   (null MX), with the name servers of `delivery.dns_servers`; the resolver
//!   itself comes from the one builder in `sluice_domains::resolver`.
//! - [`RouteError`] says whether a failure bounces now (NXDOMAIN, null MX, MX
//!   only at private addresses) or waits for a retry (any DNS trouble).
//!
//! MX answers pointing outside the public internet (loopback — hickory itself
//! answers `localhost.` with it —, RFC 1918, link-local, …) are refused unless
//! `delivery.allow_private_mx`; configured relays are the operator's own choice
//! and are never filtered.

mod error;
mod name;
mod order;
mod resolver;
mod router;

#[cfg(test)]
mod tests_mx;

pub use error::{ConfigError, RouteError};
pub use resolver::{MxHost, MxResolver};
pub use router::{Route, Router, RouterConfig};
