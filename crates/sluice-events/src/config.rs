//! `[webhooks]`: how events reach tenants' endpoints, as the configuration file and
//! the environment give it — the one set of defaults (the retry schedule is
//! [`RetrySchedule::default`]'s) and the one conversion into the running
//! [`WebhookConfig`].

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sluice_model::setting::{InvalidSetting, positive};

use crate::{RetrySchedule, WebhookConfig};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    /// Delays between attempts of a failing delivery; after the last, it is given up
    /// (`SLUICE_WEBHOOKS_RETRY_SCHEDULE="5s,5m,30m"`). Default: 5s, 5m, 30m, 2h, 5h,
    /// 10h, 10h (eight attempts over ~27.6 h).
    #[serde(with = "sluice_model::duration::list")]
    pub retry_schedule: Vec<Duration>,
    /// An endpoint failing with no success for this long is disabled.
    #[serde(with = "sluice_model::duration")]
    pub disable_after: Duration,
    /// Per request, connecting included.
    #[serde(with = "sluice_model::duration")]
    pub timeout: Duration,
    /// Requests in flight to one endpoint, across all processes.
    pub max_in_flight_per_endpoint: usize,
    /// Requests in flight per process, all endpoints together.
    pub concurrency: usize,
    /// How long a rotated-out secret keeps signing deliveries (`0s`: not at all).
    #[serde(with = "sluice_model::duration")]
    pub rotation_grace: Duration,
    /// At shutdown, how long in-flight requests may take.
    #[serde(with = "sluice_model::duration")]
    pub drain_timeout: Duration,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            retry_schedule: RetrySchedule::default().delays().to_vec(),
            disable_after: Duration::from_secs(5 * 24 * 3600),
            timeout: Duration::from_secs(10),
            max_in_flight_per_endpoint: 8,
            concurrency: 256,
            rotation_grace: Duration::from_secs(24 * 3600),
            drain_timeout: Duration::from_secs(15),
        }
    }
}

impl WebhooksConfig {
    /// The webhook service's settings, validated (keys relative to `[webhooks]`);
    /// `allow_private` is the top-level `webhook_allow_private`.
    pub fn service_config(&self, allow_private: bool) -> Result<WebhookConfig, InvalidSetting> {
        if self.retry_schedule.iter().any(Duration::is_zero) {
            return Err(InvalidSetting::new(
                "retry_schedule",
                "every delay must be more than zero",
            ));
        }
        for (key, count) in [
            (
                "max_in_flight_per_endpoint",
                self.max_in_flight_per_endpoint,
            ),
            ("concurrency", self.concurrency),
        ] {
            if count == 0 {
                return Err(InvalidSetting::new(key, "must be at least 1"));
            }
        }
        Ok(WebhookConfig {
            retry: RetrySchedule::new(self.retry_schedule.clone()),
            disable_after: positive("disable_after", self.disable_after)?,
            request_timeout: positive("timeout", self.timeout)?,
            max_in_flight_per_endpoint: self.max_in_flight_per_endpoint,
            concurrency: self.concurrency,
            allow_private,
            drain_timeout: positive("drain_timeout", self.drain_timeout)?,
            ..WebhookConfig::default()
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_defaults_are_the_services() {
        let service = WebhooksConfig::default().service_config(false).unwrap();
        let defaults = WebhookConfig::default();
        assert_eq!(service.retry, defaults.retry);
        assert_eq!(service.disable_after, defaults.disable_after);
        assert_eq!(service.request_timeout, defaults.request_timeout);
        assert_eq!(service.concurrency, defaults.concurrency);
        assert_eq!(service.drain_timeout, defaults.drain_timeout);
    }

    #[test]
    fn refusals_name_the_key_in_the_section() {
        let config = WebhooksConfig {
            timeout: Duration::ZERO,
            ..WebhooksConfig::default()
        };
        assert_eq!(
            config.service_config(false).unwrap_err().to_string(),
            "`timeout` must be more than zero"
        );
        let config = WebhooksConfig {
            rotation_grace: Duration::ZERO,
            ..WebhooksConfig::default()
        };
        assert!(config.service_config(false).is_ok(), "no grace is a choice");
    }
}
