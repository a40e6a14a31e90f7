//! Why a domain could not be routed, and whether that is worth a retry.

use sluice_domains::resolver::ResolverError;
use sluice_smtp_client::SmtpError;

/// A routing failure. The split between permanent and transient matters more
/// than the detail: a permanent one bounces the message at once, a transient
/// one puts it back on the retry schedule.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    /// The domain publishes a null MX (RFC 7505): it accepts no mail at all.
    #[error("{domain} accepts no mail (null MX, RFC 7505)")]
    NullMx { domain: String },
    /// The domain does not exist (NXDOMAIN) or is not a valid domain name.
    #[error("domain {domain} does not exist")]
    NoSuchDomain { domain: String },
    /// DNS failed (SERVFAIL, timeout, unreachable name server) or no MX host
    /// has an address right now. DNS trouble is usually short-lived and
    /// bouncing on it would lose mail, so this is always retried.
    #[error("cannot route mail for {domain} now: {reason}")]
    Temporary { domain: String, reason: String },
    /// Every address the domain's MX hosts (or, without MX, the domain itself)
    /// resolve to is outside the public internet: loopback, RFC 1918, link-local,
    /// CGNAT, … (refused unless `delivery.allow_private_mx`). Permanent: such a zone
    /// is either a pre-RFC 7505 "no mail here" (`MX 0 localhost.`) or an attempt to
    /// aim our workers at internal hosts, and no retry changes either; bouncing at
    /// once tells the sender now rather than after the maximum queue age.
    #[error(
        "MX for {domain} resolves only to private or non-public addresses ({})",
        list(addresses)
    )]
    PrivateOnly {
        domain: String,
        addresses: Vec<std::net::IpAddr>,
    },
    /// The resolver or router configuration is unusable (bad relay URL or
    /// pattern, zero timeout, unreadable resolv.conf). An operator error:
    /// found at start-up, and never a reason to bounce mail.
    #[error("invalid routing configuration: {0}")]
    InvalidConfig(#[from] ConfigError),
}

/// What is wrong with the routing configuration (see [`RouteError::InvalidConfig`]).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("delivery.mx_port is 0")]
    MxPortZero,
    /// A relay URL (`relay_url`, `delivery.routes`) does not parse.
    #[error(transparent)]
    RelayUrl(#[from] SmtpError),
    #[error("route domain '{pattern}': {reason}")]
    RoutePattern {
        pattern: String,
        reason: &'static str,
    },
    #[error("route for '{0}' is given twice")]
    DuplicateRoute(String),
    #[error(transparent)]
    Resolver(#[from] ResolverError),
}

impl RouteError {
    /// True when retrying cannot help and the message should bounce now.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            Self::NullMx { .. } | Self::NoSuchDomain { .. } | Self::PrivateOnly { .. }
        )
    }

    /// The RFC 3463 enhanced status code for the DSN or event:
    /// - `5.1.10` null MX (RFC 7505 §4.2),
    /// - `5.1.2` bad destination system address,
    /// - `5.4.4` unable to route (MX only at non-public addresses),
    /// - `4.4.3` directory server failure (DNS), transient,
    /// - `4.3.5` system incorrectly configured, transient (ours, not theirs).
    pub fn enhanced_code(&self) -> &'static str {
        match self {
            Self::NullMx { .. } => "5.1.10",
            Self::NoSuchDomain { .. } => "5.1.2",
            Self::PrivateOnly { .. } => "5.4.4",
            Self::Temporary { .. } => "4.4.3",
            Self::InvalidConfig(_) => "4.3.5",
        }
    }
}

/// At most a few addresses, for a readable reason.
fn list(addresses: &[std::net::IpAddr]) -> String {
    let shown: Vec<String> = addresses.iter().take(4).map(ToString::to_string).collect();
    match addresses.len() {
        n if n > 4 => format!("{}, …", shown.join(", ")),
        _ => shown.join(", "),
    }
}
