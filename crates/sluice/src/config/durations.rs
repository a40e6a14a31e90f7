//! Durations across sections. Every duration key is a `std::time::Duration` read through
//! [`sluice_model::duration`], so a bad value is refused while the configuration is
//! read, naming its key and environment variable (nothing falls back to a default at
//! run time); each section refuses its zero waits and timeouts by name; and
//! combinations that cannot work are refused here with both keys named. The tests
//! below find every duration key from the defaults and check all three.

use anyhow::bail;
use sluice_model::duration::format;
use sluice_model::setting::positive;

use super::Config;
use super::keys::{named, refuse};

impl Config {
    /// `retention` is positive and outlives every retry: message records expire after
    /// it, so a message still being retried would lose its record and be dropped.
    pub(super) fn validate_retention(&self) -> anyhow::Result<()> {
        let retention = positive("retention", self.retention).map_err(refuse)?;
        let longest_retry = self
            .delivery
            .retry_schedule
            .iter()
            .max()
            .copied()
            .unwrap_or_default();
        for (key, needed) in [
            (named("delivery.max_age"), self.delivery.max_age),
            (
                format!("the longest delay in {}", named("delivery.retry_schedule")),
                longest_retry,
            ),
        ] {
            if retention <= needed {
                bail!(
                    "invalid configuration: {} = {} must be longer than {key} = {}: message records expire after the retention period, so a message still being retried would lose its record and be dropped",
                    named("retention"),
                    format(retention),
                    format(needed),
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
