//! Which way mail for a domain leaves: a configured relay or direct MX
//! delivery. Pure configuration lookup, no I/O, so it runs per recipient
//! domain without cost.

use std::collections::HashMap;

use super::RouteError;
use super::error::ConfigError;
use super::name::normalize;
use sluice_smtp_client::RelayTarget;

/// How mail for one recipient domain is delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Through a smart host: a per-domain route (`[[delivery.routes]]`) or
    /// the default relay (`SLUICE_RELAY_URL`).
    Relay(RelayTarget),
    /// Directly to the domain's MX hosts (see [`super::MxResolver`]) on this
    /// port (`delivery.mx_port`, 25 except in tests).
    Mx { port: u16 },
}

/// The router's configuration, as read from `delivery.*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterConfig {
    /// `(domain pattern, relay URL)`: the pattern is an exact domain
    /// (`example.com`) or a wildcard (`*.example.com`, which matches every
    /// subdomain at any depth but not `example.com` itself, as in DNS).
    /// The URL is parsed by [`RelayTarget::from_url`].
    pub routes: Vec<(String, String)>,
    /// Relay for every domain without its own route; `None` means direct MX
    /// delivery.
    pub default_relay: Option<String>,
    /// Port MX hosts are contacted on.
    pub mx_port: u16,
    /// EHLO name for relay targets built from the URLs (IP pools may later
    /// replace it together with the source address).
    pub helo_name: String,
}

/// Decides [`Route`]s: an exact route beats a wildcard, a longer wildcard
/// beats a shorter one, then the default relay, then MX delivery.
#[derive(Debug, Clone)]
pub struct Router {
    exact: HashMap<String, RelayTarget>,
    /// `(".example.com", target)`, longest suffix first.
    wildcards: Vec<(String, RelayTarget)>,
    default: Option<RelayTarget>,
    mx_port: u16,
}

impl Router {
    /// Validates everything up front, so a bad route is an error at start-up
    /// rather than a stuck queue: unparsable relay URLs and patterns,
    /// duplicate patterns (which one wins would be arbitrary) and port 0.
    pub fn new(config: &RouterConfig) -> Result<Self, RouteError> {
        if config.mx_port == 0 {
            return Err(ConfigError::MxPortZero.into());
        }
        let target = |url: &str| {
            RelayTarget::from_url(url, &config.helo_name)
                .map_err(|e| RouteError::from(ConfigError::RelayUrl(e)))
        };
        let mut exact = HashMap::new();
        let mut wildcards = Vec::new();
        for (pattern, url) in &config.routes {
            let relay = target(url)?;
            let duplicate = match parse_pattern(pattern)? {
                Pattern::Exact(domain) => exact.insert(domain, relay).is_some(),
                Pattern::Subdomains(suffix) => {
                    let seen = wildcards.iter().any(|(s, _)| *s == suffix);
                    wildcards.push((suffix, relay));
                    seen
                }
            };
            if duplicate {
                return Err(ConfigError::DuplicateRoute(pattern.clone()).into());
            }
        }
        wildcards.sort_by_key(|(suffix, _)| std::cmp::Reverse(suffix.len()));
        let default = config.default_relay.as_deref().map(target).transpose()?;
        Ok(Self {
            exact,
            wildcards,
            default,
            mx_port: config.mx_port,
        })
    }

    /// The route for `domain` (any case, with or without a trailing dot,
    /// Unicode or A-labels).
    pub fn route_for(&self, domain: &str) -> Route {
        let domain = normalize(domain).unwrap_or_else(|| domain.to_ascii_lowercase());
        let configured = self.exact.get(&domain).or_else(|| {
            self.wildcards
                .iter()
                .find(|(suffix, _)| domain.ends_with(suffix.as_str()))
                .map(|(_, target)| target)
        });
        match configured.or(self.default.as_ref()) {
            Some(target) => Route::Relay(target.clone()),
            None => Route::Mx { port: self.mx_port },
        }
    }
}

enum Pattern {
    Exact(String),
    /// The suffix with its leading dot: `.example.com`.
    Subdomains(String),
}

fn parse_pattern(pattern: &str) -> Result<Pattern, RouteError> {
    let bad = |reason: &'static str| {
        RouteError::from(ConfigError::RoutePattern {
            pattern: pattern.to_owned(),
            reason,
        })
    };
    let (wildcard, domain) = match pattern.trim().strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, pattern.trim()),
    };
    if domain.contains('*') {
        return Err(bad("'*' is only allowed as a leading '*.' label"));
    }
    if domain.contains('@') {
        return Err(bad("expected a domain, not an address"));
    }
    let domain = normalize(domain).ok_or_else(|| bad("not a domain name"))?;
    Ok(if wildcard {
        Pattern::Subdomains(format!(".{domain}"))
    } else {
        Pattern::Exact(domain)
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn config(routes: &[(&str, &str)], default_relay: Option<&str>) -> RouterConfig {
        RouterConfig {
            routes: routes
                .iter()
                .map(|&(d, u)| (d.to_owned(), u.to_owned()))
                .collect(),
            default_relay: default_relay.map(str::to_owned),
            mx_port: 2525,
            helo_name: "mta.sluice.test".into(),
        }
    }

    fn relay_host(route: Route) -> String {
        match route {
            Route::Relay(target) => format!("{}:{}", target.host, target.port),
            Route::Mx { port } => format!("mx:{port}"),
        }
    }

    #[test]
    fn exact_beats_wildcard_and_longer_wildcard_beats_shorter() {
        let router = Router::new(&config(
            &[
                ("*.example.com", "smtp://wild:25"),
                ("*.eu.example.com", "smtp://eu:25"),
                ("special.eu.example.com", "smtp://special:25"),
                ("Example.com", "smtps://apex"),
            ],
            None,
        ))
        .unwrap();
        let route = |d: &str| relay_host(router.route_for(d));
        assert_eq!(route("example.com"), "apex:465");
        assert_eq!(route("a.example.com"), "wild:25");
        assert_eq!(route("a.b.example.com"), "wild:25");
        assert_eq!(route("fr.eu.example.com"), "eu:25");
        assert_eq!(route("SPECIAL.eu.Example.com."), "special:25");
        assert_eq!(route("notexample.com"), "mx:2525");
        assert_eq!(route("other.test"), "mx:2525");
    }

    #[test]
    fn default_relay_catches_the_rest() {
        let router = Router::new(&config(
            &[("direct.test", "smtp://per-domain:2526")],
            Some("smtp://user:secret@smarthost:587?tls=required"),
        ))
        .unwrap();
        assert_eq!(
            relay_host(router.route_for("direct.test")),
            "per-domain:2526"
        );
        let Route::Relay(target) = router.route_for("anything.test") else {
            panic!("expected the default relay");
        };
        assert_eq!((target.host.as_str(), target.port), ("smarthost", 587));
        assert_eq!(target.helo_name, "mta.sluice.test");
        assert!(target.credentials.is_some());
    }

    #[test]
    fn unicode_and_a_label_domains_match_each_other() {
        let router = Router::new(&config(&[("bücher.example", "smtp://idn")], None)).unwrap();
        assert_eq!(
            relay_host(router.route_for("xn--bcher-kva.example")),
            "idn:25"
        );
        assert_eq!(relay_host(router.route_for("BÜCHER.example")), "idn:25");
    }

    #[test]
    fn bad_configuration_is_refused() {
        // (routes, default relay)
        type Case<'a> = (&'a [(&'a str, &'a str)], Option<&'a str>);
        let cases: &[Case] = &[
            (&[("example.com", "http://relay")], None),
            (&[("*", "smtp://relay")], None),
            (&[("*.", "smtp://relay")], None),
            (&[("a.*.example.com", "smtp://relay")], None),
            (&[("user@example.com", "smtp://relay")], None),
            (&[("", "smtp://relay")], None),
            (&[("a.test", "smtp://r1"), ("A.test.", "smtp://r2")], None),
            (
                &[("*.a.test", "smtp://r1"), ("*.A.test", "smtp://r2")],
                None,
            ),
            (&[], Some("smtp://user:hunter2@relay:0")),
        ];
        for (routes, default) in cases {
            let err = Router::new(&config(routes, *default)).unwrap_err();
            assert!(matches!(err, RouteError::InvalidConfig(_)), "{err:?}");
            assert!(!err.to_string().contains("hunter2"), "{err}");
            assert!(!err.is_permanent());
        }
        let mut zero_port = config(&[], None);
        zero_port.mx_port = 0;
        assert!(Router::new(&zero_port).is_err());
    }
}
