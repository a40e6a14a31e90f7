//! Which mailbox provider sits behind an MX host, and what limits apply to it.
//!
//! Big providers host millions of domains behind a handful of MX names (every Google
//! Workspace domain points at `*.l.google.com`), and they rate-limit per sending IP
//! across all of those domains. Throttles are therefore keyed by *provider*, found
//! from the MX host name, not by recipient domain. A host no rule recognises gets a
//! provider of its own, named after the recipient domain, with the default limits.
//!
//! # Patterns
//!
//! A pattern is a host name whose labels may contain `*`. Matching is ASCII
//! case-insensitive and ignores one trailing dot on the host or the pattern.
//! - A label that is exactly `*` matches **one or more whole labels** of the host:
//!   `*.google.com` matches `aspmx.l.google.com` and `alt1.aspmx.l.google.com`, but not
//!   `google.com` (nothing for `*` to match), `evilgoogle.com` (`google` must be a whole
//!   label) or `google.com.evil.test` (the pattern is anchored at both ends).
//! - A `*` inside a label (`mx*.example.jp`) matches zero or more characters **within
//!   that one label**, never a dot: it matches `mx.example.jp` and `mx12.example.jp`,
//!   not `mx1.a.example.jp`.
//! - Every other label must equal the host's label.
//!
//! A host with an empty label (`a..google.com`) matches no pattern and falls back to
//! its domain.

use serde::{Deserialize, Serialize};

/// Per (source IP × provider) limits: what one of our IPs may do to one provider.
/// A configured rule may leave any of them out: it then takes the default, the
/// limit of destinations no rule recognises ([`ProviderLimits::default`]).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default)]
pub struct ProviderLimits {
    /// Concurrent SMTP connections from one source IP (enforced per worker process).
    pub max_connections_per_ip: usize,
    /// Messages sent over one connection before it is closed and a new one opened.
    pub messages_per_connection: usize,
    /// Long-run message rate per minute from one source IP, shared across workers.
    pub messages_per_minute_per_ip: u32,
    /// Long-run message rate per hour from one source IP, shared across workers.
    pub messages_per_hour_per_ip: u32,
}

impl Default for ProviderLimits {
    /// The limits of destinations no rule recognises (see `default_limits`).
    fn default() -> Self {
        default_limits()
    }
}

/// One `[[delivery.providers]]` entry in the configuration.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub struct ProviderRule {
    /// Stable name: part of throttle keys and shown in the admin API and metrics.
    pub name: String,
    /// Globs on MX host names (see the module documentation for the exact semantics).
    pub mx_patterns: Vec<String>,
    #[serde(flatten)]
    pub limits: ProviderLimits,
}

/// Why a configured provider rule was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderRuleError {
    #[error("a delivery provider has an empty name")]
    EmptyName,
    #[error("delivery provider `{provider}` has no mx_patterns")]
    NoPatterns { provider: String },
    #[error("delivery provider `{provider}`: invalid mx pattern `{pattern}`: {reason}")]
    InvalidPattern {
        provider: String,
        pattern: String,
        reason: &'static str,
    },
    #[error("delivery provider `{provider}`: `{field}` must be positive")]
    ZeroLimit {
        provider: String,
        field: &'static str,
    },
    /// Two configured rules with one name would share throttle buckets while matching
    /// different hosts, which is never what was meant.
    #[error("delivery provider `{provider}` is configured more than once")]
    DuplicateName { provider: String },
}

impl ProviderRule {
    /// Checks what the table cannot repair later: a rule that matches nothing (or
    /// everything), or a zero limit that would stop the provider for good.
    pub fn validate(&self) -> Result<(), ProviderRuleError> {
        if self.name.trim().is_empty() {
            return Err(ProviderRuleError::EmptyName);
        }
        if self.mx_patterns.is_empty() {
            return Err(ProviderRuleError::NoPatterns {
                provider: self.name.clone(),
            });
        }
        for pattern in &self.mx_patterns {
            check_pattern(pattern).map_err(|reason| ProviderRuleError::InvalidPattern {
                provider: self.name.clone(),
                pattern: pattern.clone(),
                reason,
            })?;
        }
        let limits = &self.limits;
        let zero = [
            ("max_connections_per_ip", limits.max_connections_per_ip == 0),
            (
                "messages_per_connection",
                limits.messages_per_connection == 0,
            ),
            (
                "messages_per_minute_per_ip",
                limits.messages_per_minute_per_ip == 0,
            ),
            (
                "messages_per_hour_per_ip",
                limits.messages_per_hour_per_ip == 0,
            ),
        ];
        if let Some((field, _)) = zero.into_iter().find(|(_, is_zero)| *is_zero) {
            return Err(ProviderRuleError::ZeroLimit {
                provider: self.name.clone(),
                field,
            });
        }
        Ok(())
    }
}

/// The provider a delivery goes to: the name keys its throttles.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Provider {
    pub name: String,
    pub limits: ProviderLimits,
    /// True when the limits come from Sluice's built-in table rather than configuration
    /// or the per-domain default (shown to operators so they know what to tune).
    pub builtin: bool,
}

/// Ordered provider rules: configured ones first, then the built-ins they did not replace.
#[derive(Clone, Debug)]
pub struct ProviderTable {
    rules: Vec<CompiledRule>,
    default_limits: ProviderLimits,
}

#[derive(Clone, Debug)]
struct CompiledRule {
    rule: ProviderRule,
    builtin: bool,
    patterns: Vec<Pattern>,
}

impl Default for ProviderTable {
    fn default() -> Self {
        Self::builtin()
    }
}

impl ProviderTable {
    /// The built-in table alone. Names: `gmail`, `outlook`, `yahoo`, `icloud`,
    /// `docomo`, `au`, `softbank`.
    pub fn builtin() -> Self {
        Self::with_overrides(Vec::new())
    }

    /// Configured rules first, in their order, then every built-in whose name no
    /// configured rule took (names compare ASCII case-insensitively). Rules are not
    /// validated here; [`try_with_overrides`](Self::try_with_overrides) does that for
    /// configuration loading. A pattern that validation would refuse is dropped here
    /// (so a stray `*` cannot swallow every destination).
    pub fn with_overrides(rules: Vec<ProviderRule>) -> Self {
        let builtins: Vec<ProviderRule> = builtin_rules()
            .into_iter()
            .filter(|b| !rules.iter().any(|r| r.name.eq_ignore_ascii_case(&b.name)))
            .collect();
        let rules = rules
            .into_iter()
            .map(|rule| CompiledRule::new(rule, false))
            .chain(
                builtins
                    .into_iter()
                    .map(|rule| CompiledRule::new(rule, true)),
            )
            .collect();
        Self {
            rules,
            default_limits: default_limits(),
        }
    }

    /// Like [`with_overrides`](Self::with_overrides), but refuses invalid or duplicate
    /// rules, so a typo in configuration stops startup instead of silently matching
    /// nothing.
    pub fn try_with_overrides(rules: Vec<ProviderRule>) -> Result<Self, ProviderRuleError> {
        for (i, rule) in rules.iter().enumerate() {
            rule.validate()?;
            if rules[..i]
                .iter()
                .any(|earlier| earlier.name.eq_ignore_ascii_case(&rule.name))
            {
                return Err(ProviderRuleError::DuplicateName {
                    provider: rule.name.clone(),
                });
            }
        }
        Ok(Self::with_overrides(rules))
    }

    /// Replaces the limits used for destinations no rule recognises.
    pub fn with_default_limits(mut self, limits: ProviderLimits) -> Self {
        self.default_limits = limits;
        self
    }

    /// The first rule with a pattern matching `mx_host`; otherwise a provider named
    /// after `recipient_domain` (lower-cased, without a trailing dot) with the default
    /// limits, so an unknown destination is throttled on its own.
    pub fn classify(&self, mx_host: &str, recipient_domain: &str) -> Provider {
        let host = normalize(mx_host);
        let labels: Vec<&str> = host.split('.').collect();
        if !host.is_empty() && labels.iter().all(|l| !l.is_empty()) {
            for compiled in &self.rules {
                if compiled.patterns.iter().any(|p| p.matches(&labels)) {
                    return Provider {
                        name: compiled.rule.name.clone(),
                        limits: compiled.rule.limits.clone(),
                        builtin: compiled.builtin,
                    };
                }
            }
        }
        Provider {
            name: normalize(recipient_domain),
            limits: self.default_limits.clone(),
            builtin: false,
        }
    }

    /// Limits for destinations no rule recognises.
    pub fn default_limits(&self) -> &ProviderLimits {
        &self.default_limits
    }

    /// Every rule in matching order, with whether it is a built-in (for the admin API).
    pub fn rules(&self) -> impl Iterator<Item = (&ProviderRule, bool)> {
        self.rules.iter().map(|c| (&c.rule, c.builtin))
    }
}

impl CompiledRule {
    fn new(rule: ProviderRule, builtin: bool) -> Self {
        let patterns = rule
            .mx_patterns
            .iter()
            .filter(|p| check_pattern(p).is_ok())
            .map(|p| Pattern::new(p))
            .collect();
        Self {
            rule,
            builtin,
            patterns,
        }
    }
}

fn normalize(name: &str) -> String {
    let name = name.trim();
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

/// Why a pattern is unusable, or `Ok` when it is fine.
fn check_pattern(pattern: &str) -> Result<(), &'static str> {
    let pattern = normalize(pattern);
    if pattern.is_empty() {
        return Err("empty pattern");
    }
    if !pattern
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'*'))
    {
        return Err("only letters, digits, `-`, `_`, `.` and `*` are allowed");
    }
    let labels: Vec<&str> = pattern.split('.').collect();
    if labels.iter().any(|l| l.is_empty()) {
        return Err("empty label");
    }
    if labels.iter().all(|l| *l == "*") {
        return Err("matches every host; unknown hosts already fall back to their domain");
    }
    Ok(())
}

#[derive(Clone, Debug)]
struct Pattern {
    labels: Vec<PatternLabel>,
}

#[derive(Clone, Debug)]
enum PatternLabel {
    /// `*`: one or more whole host labels.
    Labels,
    /// A label containing `*`: matches one host label, `*` within it.
    Glob(String),
    Exact(String),
}

impl Pattern {
    fn new(pattern: &str) -> Self {
        let labels = normalize(pattern)
            .split('.')
            .map(|label| match label {
                "*" => PatternLabel::Labels,
                l if l.contains('*') => PatternLabel::Glob(l.to_owned()),
                l => PatternLabel::Exact(l.to_owned()),
            })
            .collect();
        Self { labels }
    }

    fn matches(&self, host: &[&str]) -> bool {
        match_labels(&self.labels, host)
    }
}

/// Backtracking over labels; patterns have a few labels, so this stays cheap.
fn match_labels(pattern: &[PatternLabel], host: &[&str]) -> bool {
    let Some((first, rest)) = pattern.split_first() else {
        return host.is_empty();
    };
    match first {
        PatternLabel::Labels => (1..=host.len()).any(|taken| match_labels(rest, &host[taken..])),
        PatternLabel::Glob(glob) => host
            .split_first()
            .is_some_and(|(label, tail)| glob_label(glob, label) && match_labels(rest, tail)),
        PatternLabel::Exact(exact) => host
            .split_first()
            .is_some_and(|(label, tail)| label == exact && match_labels(rest, tail)),
    }
}

/// `*` matches any run of characters (possibly empty) within one label.
fn glob_label(glob: &str, label: &str) -> bool {
    let mut parts = glob.split('*');
    let Some(first) = parts.next() else {
        return false;
    };
    let Some(mut rest) = label.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        // No `*` at all: an exact label.
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// Destinations nothing recognises are often small company servers that a burst could
/// hurt, and a new sender has no reputation with them: two connections and a minute
/// rate a single small MTA absorbs without noticing.
fn default_limits() -> ProviderLimits {
    ProviderLimits {
        max_connections_per_ip: 2,
        messages_per_connection: 20,
        messages_per_minute_per_ip: 60,
        messages_per_hour_per_ip: 1_000,
    }
}

fn rule(name: &str, patterns: &[&str], limits: ProviderLimits) -> ProviderRule {
    ProviderRule {
        name: name.to_owned(),
        mx_patterns: patterns.iter().map(|p| (*p).to_owned()).collect(),
        limits,
    }
}

fn builtin_rules() -> Vec<ProviderRule> {
    vec![
        gmail(),
        outlook(),
        yahoo(),
        icloud(),
        docomo(),
        au(),
        softbank(),
    ]
}

/// Gmail and Google Workspace: `gmail-smtp-in.l.google.com`, `aspmx.l.google.com` and
/// their `altN.` backups, `smtp.google.com` (newer Workspace domains) and
/// `aspmxN.googlemail.com` (older Workspace domains).
///
/// Google publishes no per-IP numbers; it answers a too-fast new IP with
/// `421 4.7.28 … rate limited` and then deferrals for hours, which costs far more than
/// sending slowly. Reuse connections well (Google accepts many messages per session);
/// the warm-up schedule, not this rate, is what caps a new IP's daily volume.
fn gmail() -> ProviderRule {
    rule(
        "gmail",
        &["*.google.com", "*.googlemail.com"],
        ProviderLimits {
            max_connections_per_ip: 5,
            messages_per_connection: 100,
            messages_per_minute_per_ip: 120,
            messages_per_hour_per_ip: 3_000,
        },
    )
}

/// Outlook.com/Hotmail (`outlook-com.olc.protection.outlook.com`,
/// `hotmail-com.olc.protection.outlook.com`) and Microsoft 365 / Exchange Online
/// (`<tenant>.mail.protection.outlook.com`); `*.protection.outlook.com` covers both and
/// `*.outlook.com`/`*.hotmail.com` catch older and regional names.
///
/// Microsoft throttles unknown IPs hard (`451 4.7.650`, `421 RP-00x`) and judges
/// reputation by volume per IP, so a new sender keeps few connections and a low rate.
fn outlook() -> ProviderRule {
    rule(
        "outlook",
        &["*.protection.outlook.com", "*.outlook.com", "*.hotmail.com"],
        ProviderLimits {
            max_connections_per_ip: 3,
            messages_per_connection: 30,
            messages_per_minute_per_ip: 60,
            messages_per_hour_per_ip: 1_500,
        },
    )
}

/// Yahoo and AOL (both on Yahoo's platform): `mta5/6/7.am0.yahoodns.net`,
/// `mx-aol.mail.gm0.yahoodns.net`, and AOL's older `mailin-0N.mx.aol.com`.
///
/// Yahoo defers with `421 4.7.0 [TSS04]` as soon as a new IP opens many connections or
/// sends in bursts, and the deferral lasts; few connections and few messages each.
fn yahoo() -> ProviderRule {
    rule(
        "yahoo",
        &["*.yahoodns.net", "*.mx.aol.com", "*.mail.aol.com"],
        ProviderLimits {
            max_connections_per_ip: 3,
            messages_per_connection: 20,
            messages_per_minute_per_ip: 60,
            messages_per_hour_per_ip: 1_000,
        },
    )
}

/// Apple iCloud (icloud.com, me.com, mac.com and custom domains):
/// `mx01.mail.icloud.com`, `mx02.mail.icloud.com`; `*.me.com` for older names.
///
/// Apple is a smaller receiver that rejects (`554 5.7.1`) rather than defers when it
/// dislikes a sender, so mistakes cost bounces: stay modest.
fn icloud() -> ProviderRule {
    rule(
        "icloud",
        &["*.mail.icloud.com", "*.me.com"],
        ProviderLimits {
            max_connections_per_ip: 3,
            messages_per_connection: 20,
            messages_per_minute_per_ip: 60,
            messages_per_hour_per_ip: 1_000,
        },
    )
}

/// NTT docomo (docomo.ne.jp): `mfsmax.docomo.ne.jp`.
///
/// The Japanese carriers run strict gateways: they refuse connections past a small
/// per-IP concurrency, and mass mail to unknown addresses gets an IP blocked for a
/// while. Two connections, ten messages each and a low rate keep a new sender clear.
fn docomo() -> ProviderRule {
    rule(
        "docomo",
        &["mfsmax.docomo.ne.jp", "*.docomo.ne.jp"],
        ProviderLimits {
            max_connections_per_ip: 2,
            messages_per_connection: 10,
            messages_per_minute_per_ip: 30,
            messages_per_hour_per_ip: 600,
        },
    )
}

/// au by KDDI (ezweb.ne.jp, au.com): `lsean.ezweb.ne.jp` and `msmx.au.com`.
///
/// au documents that its servers answer heavy or bursty senders with a TCP reset and a
/// temporary block; the same strict limits as docomo.
fn au() -> ProviderRule {
    rule(
        "au",
        &[
            "lsean.ezweb.ne.jp",
            "msmx.au.com",
            "*.ezweb.ne.jp",
            "*.au.com",
        ],
        ProviderLimits {
            max_connections_per_ip: 2,
            messages_per_connection: 10,
            messages_per_minute_per_ip: 30,
            messages_per_hour_per_ip: 600,
        },
    )
}

/// SoftBank (softbank.ne.jp, the older `x.vodafone.ne.jp`, and i.softbank.jp):
/// `mx.softbank.ne.jp`; the wildcards cover the other carrier-operated names.
///
/// SoftBank temporarily refuses a sender whose batch contains many unknown addresses;
/// the same strict limits as the other carriers.
fn softbank() -> ProviderRule {
    rule(
        "softbank",
        &["*.softbank.ne.jp", "*.vodafone.ne.jp", "*.i.softbank.jp"],
        ProviderLimits {
            max_connections_per_ip: 2,
            messages_per_connection: 10,
            messages_per_minute_per_ip: 30,
            messages_per_hour_per_ip: 600,
        },
    )
}

#[cfg(test)]
mod tests;
