//! A configuration value refused by the component that owns it.
//!
//! Each component's configuration type (beside the component) checks its own values
//! and names the key it refuses, relative to its section (`timeout`); the binary,
//! which knows where the section is mounted and how keys map to environment
//! variables, puts the section in front ([`InvalidSetting::within`]) and names the
//! variable.

use std::time::Duration;

/// `` `key` problem ``: e.g. `` `drain_timeout` must be more than zero ``.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{key}` {problem}")]
pub struct InvalidSetting {
    /// The key, dotted from the component's section (`adaptive.recheck`).
    pub key: String,
    /// What is wrong, as it reads after the key: "must be more than zero",
    /// "entry `x` is not ip:port".
    pub problem: String,
}

impl InvalidSetting {
    pub fn new(key: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            problem: problem.into(),
        }
    }

    /// The same refusal with the key under `section` (`webhooks` + `timeout` →
    /// `webhooks.timeout`).
    pub fn within(self, section: &str) -> Self {
        Self {
            key: format!("{section}.{}", self.key),
            problem: self.problem,
        }
    }
}

/// Refuses a zero wait or timeout under `key`.
pub fn positive(key: &str, duration: Duration) -> Result<Duration, InvalidSetting> {
    if duration.is_zero() {
        Err(InvalidSetting::new(key, "must be more than zero"))
    } else {
        Ok(duration)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_key_comes_first_and_takes_its_section() {
        let refusal = positive("timeout", Duration::ZERO).expect_err("zero is refused");
        assert_eq!(refusal.to_string(), "`timeout` must be more than zero");
        assert_eq!(
            refusal.within("webhooks").to_string(),
            "`webhooks.timeout` must be more than zero"
        );
        assert_eq!(
            positive("timeout", Duration::from_secs(1)),
            Ok(Duration::from_secs(1))
        );
    }
}
