//! Rates shared by every worker process: a GCRA (generic cell rate algorithm) in one
//! Lua call.
//!
//! GCRA stores a single number per bucket, the *theoretical arrival time* (TAT) at
//! which the bucket would be empty if traffic had flowed at exactly the configured
//! rate; a request is admitted when pushing the TAT forward by its cost keeps it within
//! the burst tolerance of now, and otherwise the overshoot is precisely how long to wait.
//! "Now" is Redis's own clock (`TIME` inside the script), so every worker host sees one
//! timeline and clock skew between them can neither leak extra sends nor stall them.
//!
//! The limit, period (and a non-default burst) are part of the key, as in KumoMTA: a
//! configuration change starts a fresh bucket instead of reading a TAT computed for
//! another rate. Keys expire as soon as their bucket is full again, so abandoned
//! (IP × provider) pairs cost nothing.

use std::fmt;
use std::sync::LazyLock;
use std::time::Duration;

use redis::Script;

use crate::{Store, StoreError, keys, reply};

/// A rate: `limit` per `period` over the long run, with up to `burst` at once.
///
/// The burst is the GCRA tolerance: a bucket that has been idle admits `burst` units
/// immediately and then one every `period / limit`. In the worst case one window of
/// `period` therefore sees `burst + limit` units; a lower burst smooths that out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rate {
    pub limit: u32,
    pub period: Duration,
    /// `None` means a burst equal to `limit`.
    pub burst: Option<u32>,
}

impl Rate {
    pub const fn new(limit: u32, period: Duration) -> Self {
        Self {
            limit,
            period,
            burst: None,
        }
    }

    pub const fn per_minute(limit: u32) -> Self {
        Self::new(limit, Duration::from_secs(60))
    }

    pub const fn per_hour(limit: u32) -> Self {
        Self::new(limit, Duration::from_secs(3600))
    }

    pub const fn with_burst(self, burst: u32) -> Self {
        Self {
            burst: Some(burst),
            ..self
        }
    }

    /// The effective burst.
    pub fn burst(&self) -> u32 {
        self.burst.unwrap_or(self.limit)
    }

    /// The period in whole milliseconds, the unit used in the key and the script.
    fn period_ms(&self) -> u128 {
        self.period.as_millis()
    }

    fn check(&self) -> Result<(), &'static str> {
        if self.limit == 0 {
            return Err("the limit must be positive (pause a destination instead)");
        }
        if self.period_ms() == 0 {
            return Err("the period must be at least one millisecond");
        }
        if self.period_ms() > u128::from(u32::MAX) {
            return Err("the period must be shorter than 49 days");
        }
        if self.burst() == 0 {
            return Err("the burst must be positive");
        }
        Ok(())
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}ms", self.limit, self.period_ms())?;
        if let Some(burst) = self.burst {
            write!(f, " (burst {burst})")?;
        }
        Ok(())
    }
}

/// The answer to "may I send now?".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Admitted, and the cost has been consumed from every rate.
    Allowed,
    /// Nothing was consumed; asking again after this long will be admitted unless
    /// someone else takes the slot first.
    RetryAfter(Duration),
}

impl Admission {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Admission::Allowed)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ThrottleError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Empty keys or keys with braces would break the hash tag that keeps all of one
    /// key's rates in one Redis Cluster slot.
    #[error("invalid throttle key {key:?}: it must be non-empty and contain no braces")]
    InvalidKey { key: String },
    #[error("invalid throttle rate {rate}: {reason}")]
    InvalidRate { rate: Rate, reason: &'static str },
    /// Refused outright rather than answered with a wait that would never end.
    #[error("a cost of {cost} can never be admitted by {rate}, whose burst is {burst}")]
    CostAboveBurst { cost: u32, rate: Rate, burst: u32 },
}

impl From<redis::RedisError> for ThrottleError {
    fn from(e: redis::RedisError) -> Self {
        ThrottleError::Store(StoreError::Redis(e))
    }
}

/// Shared rate limits, on the store's connection: an admission is one short script
/// call, so it needs no connection of its own.
impl Store {
    /// Admits `cost` units (messages) under `rate` for `key` (e.g. `127.0.0.2|gmail`),
    /// in one atomic call. See [`throttle_admit_all`](Self::throttle_admit_all).
    pub async fn throttle_admit(
        &self,
        key: &str,
        rate: Rate,
        cost: u32,
    ) -> Result<Admission, ThrottleError> {
        self.throttle_admit_all(key, std::slice::from_ref(&rate), cost)
            .await
    }

    /// Admits `cost` units only if every rate admits them (a per-minute and a per-hour
    /// limit, say), in one atomic call. When any rate refuses, nothing is consumed from
    /// any of them and the answer is the longest wait, after which all would admit.
    /// No rates at all means no limit.
    pub async fn throttle_admit_all(
        &self,
        key: &str,
        rates: &[Rate],
        cost: u32,
    ) -> Result<Admission, ThrottleError> {
        if key.is_empty() || key.contains(['{', '}']) {
            return Err(ThrottleError::InvalidKey { key: key.into() });
        }
        for rate in rates {
            rate.check().map_err(|reason| ThrottleError::InvalidRate {
                rate: *rate,
                reason,
            })?;
            if cost > rate.burst() {
                return Err(ThrottleError::CostAboveBurst {
                    cost,
                    rate: *rate,
                    burst: rate.burst(),
                });
            }
        }
        if rates.is_empty() {
            return Ok(Admission::Allowed);
        }
        let mut invocation = GCRA.prepare_invoke();
        invocation.arg(cost);
        for rate in rates {
            invocation
                .key(bucket_key(key, rate))
                .arg(rate.period_ms() as u64 * 1000)
                .arg(rate.limit)
                .arg(rate.burst());
        }
        let wait_us = invocation.invoke_async(&mut self.conn()).await?;
        let wait_us = reply::int("throttle_gcra", wait_us)?;
        Ok(if wait_us <= 0 {
            Admission::Allowed
        } else {
            Admission::RetryAfter(Duration::from_micros(wait_us.unsigned_abs()))
        })
    }
}

/// The bucket of one rate of `key` (see `keys::throttle_bucket`): a burst other than
/// the limit is part of the name.
fn bucket_key(key: &str, rate: &Rate) -> String {
    let burst = rate.burst.filter(|burst| *burst != rate.limit);
    keys::throttle_bucket(key, rate.limit, rate.period_ms(), burst)
}

/// GCRA over several buckets at once, all or nothing (see `scripts/throttle_gcra.lua`).
static GCRA: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/throttle_gcra.lua")));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_carry_the_rate_and_share_one_hash_tag() {
        let minute = Rate::per_minute(600);
        let hour = Rate::per_hour(10_000);
        assert_eq!(
            bucket_key("127.0.0.2|gmail", &minute),
            "sluice:v1:throttle:{127.0.0.2|gmail}:600:60000"
        );
        assert_eq!(
            bucket_key("127.0.0.2|gmail", &hour),
            "sluice:v1:throttle:{127.0.0.2|gmail}:10000:3600000"
        );
        // A burst equal to the limit is the default and keeps the default key.
        assert_eq!(
            bucket_key("k", &minute.with_burst(600)),
            bucket_key("k", &minute)
        );
        assert_eq!(
            bucket_key("k", &minute.with_burst(10)),
            "sluice:v1:throttle:{k}:600:60000:10"
        );
    }

    #[test]
    fn rates_that_could_never_admit_are_refused() {
        assert!(Rate::per_minute(0).check().is_err());
        assert!(Rate::new(5, Duration::from_micros(999)).check().is_err());
        assert!(Rate::per_minute(5).with_burst(0).check().is_err());
        assert!(
            Rate::new(5, Duration::from_secs(50 * 24 * 3600))
                .check()
                .is_err()
        );
        assert!(Rate::per_hour(1).check().is_ok());
        assert_eq!(Rate::per_minute(5).to_string(), "5/60000ms");
    }
}
