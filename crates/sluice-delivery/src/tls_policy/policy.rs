//! The MTA-STS policy file (RFC 8461 §3.2) and MX host matching (§4.1). Pure.

use serde::{Deserialize, Serialize};

/// The longest `max_age` a policy may state (RFC 8461 §3.2: 31557600, a year).
pub const MAX_AGE_LIMIT: u64 = 31_557_600;

/// What a policy asks of senders.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Deliver only to matching MX hosts over verified TLS, else defer.
    Enforce,
    /// Deliver as usual; report what would have failed (TLS-RPT).
    Testing,
    /// No policy (the domain is withdrawing one).
    None,
}

/// A parsed policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub mode: Mode,
    /// `mx` patterns, lower case, without a trailing dot (`mail.example.com`,
    /// `*.example.net`).
    pub mx: Vec<String>,
    /// Seconds the policy may be cached (at most [`MAX_AGE_LIMIT`]).
    pub max_age: u64,
}

/// Why a policy body was refused (TLS-RPT `sts-policy-invalid`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("the policy has no `version: STSv1` line")]
    Version,
    #[error("the policy's mode `{0}` is not enforce, testing or none")]
    Mode(String),
    #[error("the policy has no mode")]
    NoMode,
    #[error("the policy's max_age `{0}` is not a number of seconds up to 31557600")]
    MaxAge(String),
    #[error("the policy has no max_age")]
    NoMaxAge,
    #[error("the policy (mode {0:?}) names no mx host")]
    NoMx(Mode),
    #[error("the policy's mx pattern `{0}` is not a host name or `*.` pattern")]
    MxPattern(String),
}

impl Policy {
    /// Parses a policy body: `key: value` lines ended by CRLF or LF; unknown keys
    /// are ignored (§3.2: "extension" keys); `mx` may repeat.
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        let (mut version, mut mode, mut max_age) = (false, None, None);
        let mut mx = Vec::new();
        for line in text.lines() {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match key.trim() {
                "version" => version = value == "STSv1",
                "mode" => {
                    mode = Some(match value {
                        "enforce" => Mode::Enforce,
                        "testing" => Mode::Testing,
                        "none" => Mode::None,
                        other => return Err(PolicyError::Mode(other.to_owned())),
                    })
                }
                "max_age" => {
                    let seconds = value
                        .parse::<u64>()
                        .ok()
                        .filter(|s| value.len() <= 10 && *s <= MAX_AGE_LIMIT)
                        .ok_or_else(|| PolicyError::MaxAge(value.to_owned()))?;
                    max_age = Some(seconds);
                }
                "mx" => mx.push(pattern(value)?),
                _ => {}
            }
        }
        if !version {
            return Err(PolicyError::Version);
        }
        let mode = mode.ok_or(PolicyError::NoMode)?;
        let max_age = max_age.ok_or(PolicyError::NoMaxAge)?;
        if mx.is_empty() && mode != Mode::None {
            return Err(PolicyError::NoMx(mode));
        }
        Ok(Self { mode, mx, max_age })
    }

    /// Whether `host` (an MX host name) matches one of the `mx` patterns: exactly,
    /// or `*.example.com` for a host one label below `example.com` (RFC 8461 §4.1:
    /// the wildcard stands for the left-most label only).
    pub fn matches(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.mx
            .iter()
            .any(|pattern| match pattern.strip_prefix("*.") {
                Some(suffix) => host
                    .split_once('.')
                    .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
                None => *pattern == host,
            })
    }
}

fn pattern(value: &str) -> Result<String, PolicyError> {
    let lower = value.trim_end_matches('.').to_ascii_lowercase();
    let name = lower.strip_prefix("*.").unwrap_or(&lower);
    let valid = !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if valid {
        Ok(lower)
    } else {
        Err(PolicyError::MxPattern(value.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_rfc_example_parses() {
        let text = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n";
        let policy = Policy::parse(text).unwrap();
        assert_eq!(policy.mode, Mode::Enforce);
        assert_eq!(policy.max_age, 604_800);
        assert_eq!(policy.mx.len(), 3);
        assert!(policy.matches("mail.example.com"));
        assert!(policy.matches("MAIL.example.com."));
        assert!(policy.matches("mx1.example.net"));
        assert!(!policy.matches("example.net"), "the wildcard needs a label");
        assert!(
            !policy.matches("a.b.example.net"),
            "the wildcard is one label"
        );
        assert!(!policy.matches("mail.example.org"));
    }

    #[test]
    fn bad_policies_are_refused() {
        let refused = |text: &str| Policy::parse(text).unwrap_err();
        assert_eq!(
            refused("mode: enforce\nmx: a.test\nmax_age: 1\n"),
            PolicyError::Version
        );
        assert_eq!(
            refused("version: STSv1\nmode: strict\nmx: a.test\nmax_age: 1\n"),
            PolicyError::Mode("strict".into())
        );
        assert_eq!(
            refused("version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 31557601\n"),
            PolicyError::MaxAge("31557601".into())
        );
        assert_eq!(
            refused("version: STSv1\nmode: testing\nmax_age: 60\n"),
            PolicyError::NoMx(Mode::Testing)
        );
        assert!(matches!(
            refused("version: STSv1\nmode: enforce\nmx: bad host\nmax_age: 60\n"),
            PolicyError::MxPattern(_)
        ));
        // `none` needs no mx; unknown keys are ignored.
        let none = Policy::parse("version: STSv1\nmode: none\nmax_age: 60\nfuture: x\n").unwrap();
        assert_eq!((none.mode, none.max_age), (Mode::None, 60));
    }
}
