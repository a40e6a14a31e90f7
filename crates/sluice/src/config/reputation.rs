//! `[reputation]` (`SLUICE_REPUTATION_<KEY>`): the tenant reputation guard — the
//! rolling window and minimum volume its rates are judged over, the review and pause
//! thresholds (in percent), and how often held bulk mail is looked at again.

use std::time::Duration;

use anyhow::bail;
use serde::{Deserialize, Serialize};
use sluice_model::{Rate, ReputationPolicy, Thresholds};

use super::Config;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReputationConfig {
    /// The rolling window the rates are counted over (`24h`), in 24 buckets (each at
    /// least a second).
    #[serde(with = "sluice_model::duration")]
    pub window: Duration,
    /// Delivered-or-hard-bounced recipients a stream needs in the window before any
    /// warning or pause.
    pub min_volume: u64,
    /// Complaints ÷ delivered, in percent, that bring a warning (0.1).
    pub review_complaint_percent: f64,
    /// Hard bounces ÷ (delivered + hard bounced), in percent, that bring a warning (5).
    pub review_hard_bounce_percent: f64,
    /// Complaint rate, in percent, that pauses the tenant's bulk stream (0.3).
    pub pause_complaint_percent: f64,
    /// Hard-bounce rate, in percent, that pauses the tenant's bulk stream (10).
    pub pause_hard_bounce_percent: f64,
    /// How long queued bulk mail of a paused tenant waits between checks (`5m`);
    /// resuming the tenant releases it at once.
    #[serde(with = "sluice_model::duration")]
    pub hold_interval: Duration,
}

impl Default for ReputationConfig {
    fn default() -> Self {
        let policy = ReputationPolicy::default();
        Self {
            window: policy.window,
            min_volume: policy.min_volume,
            review_complaint_percent: policy.review.complaint_rate.0 * 100.0,
            review_hard_bounce_percent: policy.review.hard_bounce_rate.0 * 100.0,
            pause_complaint_percent: policy.pause.complaint_rate.0 * 100.0,
            pause_hard_bounce_percent: policy.pause.hard_bounce_rate.0 * 100.0,
            hold_interval: sluice_delivery::worker::DEFAULT_REPUTATION_HOLD,
        }
    }
}

impl Config {
    /// The guard's policy, validated (each refusal names its key).
    pub fn reputation_policy(&self) -> anyhow::Result<ReputationPolicy> {
        let r = &self.reputation;
        for (key, value) in [("window", r.window), ("hold_interval", r.hold_interval)] {
            if value.is_zero() {
                bail!(
                    "invalid configuration: {} must be more than zero",
                    super::keys::named(&format!("reputation.{key}"))
                );
            }
        }
        if r.min_volume == 0 {
            bail!(
                "invalid configuration: {} must be at least 1",
                super::keys::named("reputation.min_volume")
            );
        }
        let percents = [
            ("review_complaint_percent", r.review_complaint_percent),
            ("review_hard_bounce_percent", r.review_hard_bounce_percent),
            ("pause_complaint_percent", r.pause_complaint_percent),
            ("pause_hard_bounce_percent", r.pause_hard_bounce_percent),
        ];
        for (key, value) in percents {
            if !(value > 0.0 && value <= 100.0) {
                bail!(
                    "invalid configuration: {} must be more than 0 and at most 100 (a percentage), got {value}",
                    super::keys::named(&format!("reputation.{key}"))
                );
            }
        }
        for (rate, review, pause) in [
            (
                "complaint",
                r.review_complaint_percent,
                r.pause_complaint_percent,
            ),
            (
                "hard_bounce",
                r.review_hard_bounce_percent,
                r.pause_hard_bounce_percent,
            ),
        ] {
            if review > pause {
                bail!(
                    "invalid configuration: {} ({review}) must not be over {} ({pause})",
                    super::keys::named(&format!("reputation.review_{rate}_percent")),
                    super::keys::named(&format!("reputation.pause_{rate}_percent"))
                );
            }
        }
        Ok(ReputationPolicy {
            window: r.window,
            min_volume: r.min_volume,
            review: Thresholds {
                hard_bounce_rate: Rate(r.review_hard_bounce_percent / 100.0),
                complaint_rate: Rate(r.review_complaint_percent / 100.0),
            },
            pause: Thresholds {
                hard_bounce_rate: Rate(r.pause_hard_bounce_percent / 100.0),
                complaint_rate: Rate(r.pause_complaint_percent / 100.0),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_defaults_are_the_providers_figures() {
        let policy = Config::default().reputation_policy().unwrap();
        assert_eq!(policy.window, Duration::from_secs(86_400));
        assert_eq!(policy.min_volume, 1000);
        assert!((policy.review.complaint_rate.0 - 0.001).abs() < 1e-12);
        assert!((policy.pause.complaint_rate.0 - 0.003).abs() < 1e-12);
        assert!((policy.review.hard_bounce_rate.0 - 0.05).abs() < 1e-12);
        assert!((policy.pause.hard_bounce_rate.0 - 0.10).abs() < 1e-12);
    }

    #[test]
    fn refusals_name_the_key() {
        let mut config = Config::default();
        config.reputation.pause_complaint_percent = 0.05;
        let error = config.reputation_policy().unwrap_err().to_string();
        assert!(
            error.contains(
                "`reputation.review_complaint_percent` (SLUICE_REPUTATION_REVIEW_COMPLAINT_PERCENT)"
            ),
            "{error}"
        );
        let mut config = Config::default();
        config.reputation.review_hard_bounce_percent = 150.0;
        let error = config.reputation_policy().unwrap_err().to_string();
        assert!(
            error.contains("reputation.review_hard_bounce_percent"),
            "{error}"
        );
        let mut config = Config::default();
        config.reputation.window = Duration::ZERO;
        let error = config.reputation_policy().unwrap_err().to_string();
        assert!(
            error.contains("`reputation.window` (SLUICE_REPUTATION_WINDOW)"),
            "{error}"
        );
    }
}
