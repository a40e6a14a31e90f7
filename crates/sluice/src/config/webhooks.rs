//! `[webhooks]`: how events reach tenants' endpoints (`SLUICE_WEBHOOKS_<KEY>`).

use std::time::Duration;

use anyhow::{Context, bail};
use serde::{Deserialize, Deserializer, Serialize};
use sluice_events::{RetrySchedule, WebhookConfig};

use super::{Config, parse_duration};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    /// Delays between attempts of a failing delivery; after the last, it is given up
    /// (`SLUICE_WEBHOOKS_RETRY_SCHEDULE="5s,5m,30m"`). Default: 5s, 5m, 30m, 2h, 5h,
    /// 10h, 10h (eight attempts over ~27.6 h).
    #[serde(deserialize_with = "list_or_commas")]
    pub retry_schedule: Vec<String>,
    /// An endpoint failing with no success for this long is disabled.
    pub disable_after: String,
    /// Per request, connecting included.
    pub timeout: String,
    /// Requests in flight to one endpoint, across all processes.
    pub max_in_flight_per_endpoint: usize,
    /// Requests in flight per process, all endpoints together.
    pub concurrency: usize,
    /// How long a rotated-out secret keeps signing deliveries.
    pub rotation_grace: String,
    /// At shutdown, how long in-flight requests may take.
    pub drain_timeout: String,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            retry_schedule: ["5s", "5m", "30m", "2h", "5h", "10h", "10h"]
                .map(String::from)
                .to_vec(),
            disable_after: "5d".into(),
            timeout: "10s".into(),
            max_in_flight_per_endpoint: 8,
            concurrency: 256,
            rotation_grace: "24h".into(),
            drain_timeout: "15s".into(),
        }
    }
}

/// A list from TOML, or comma-separated text from the environment.
fn list_or_commas<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Form {
        List(Vec<String>),
        Text(String),
    }
    Ok(match Form::deserialize(deserializer)? {
        Form::List(items) => items,
        Form::Text(text) => text
            .trim_matches(|c| c == '[' || c == ']')
            .split(',')
            .map(|s| s.trim().trim_matches('"').to_string())
            .filter(|s| !s.is_empty())
            .collect(),
    })
}

impl Config {
    /// The webhook service's settings, validated (names the key at fault).
    pub fn webhook_config(&self) -> anyhow::Result<WebhookConfig> {
        let w = &self.webhooks;
        let duration = |key: &str, value: &str| {
            parse_duration(value).with_context(|| {
                format!(
                    "invalid configuration: `webhooks.{key}` (SLUICE_WEBHOOKS_{})",
                    key.to_ascii_uppercase()
                )
            })
        };
        let delays = w
            .retry_schedule
            .iter()
            .map(|d| duration("retry_schedule", d))
            .collect::<anyhow::Result<Vec<Duration>>>()?;
        if w.max_in_flight_per_endpoint == 0 || w.concurrency == 0 {
            bail!(
                "invalid configuration: `webhooks.max_in_flight_per_endpoint` and `webhooks.concurrency` must be positive"
            );
        }
        let request_timeout = duration("timeout", &w.timeout)?;
        if request_timeout.is_zero() {
            bail!("invalid configuration: `webhooks.timeout` must be positive");
        }
        Ok(WebhookConfig {
            retry: RetrySchedule::new(delays),
            disable_after: duration("disable_after", &w.disable_after)?,
            request_timeout,
            max_in_flight_per_endpoint: w.max_in_flight_per_endpoint,
            concurrency: w.concurrency,
            allow_private: self.webhook_allow_private,
            drain_timeout: duration("drain_timeout", &w.drain_timeout)?,
            ..WebhookConfig::default()
        })
    }

    /// What the API's webhook routes need.
    pub fn webhook_api_settings(
        &self,
    ) -> anyhow::Result<sluice_api::routes::webhooks::WebhookSettings> {
        let service = self.webhook_config()?;
        Ok(sluice_api::routes::webhooks::WebhookSettings {
            allow_private: self.webhook_allow_private,
            rotation_grace: parse_duration(&self.webhooks.rotation_grace).context(
                "invalid configuration: `webhooks.rotation_grace` (SLUICE_WEBHOOKS_ROTATION_GRACE)",
            )?,
            delivery_ttl: service.delivery_ttl(),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::path::Path;

    use super::*;

    #[test]
    #[allow(clippy::result_large_err)]
    fn the_retry_schedule_comes_from_toml_or_the_environment() {
        figment::Jail::expect_with(|jail| {
            let config = Config::load(None).unwrap();
            let service = config.webhook_config().unwrap();
            assert_eq!(service.retry, RetrySchedule::default());
            assert_eq!(service.disable_after, Duration::from_secs(5 * 86_400));
            assert_eq!(service.request_timeout, Duration::from_secs(10));

            jail.create_file(
                "s.toml",
                "[webhooks]\nretry_schedule = [\"1s\", \"2m\"]\ndisable_after = \"3s\"\n",
            )?;
            let config = Config::load(Some(Path::new("s.toml"))).unwrap();
            let service = config.webhook_config().unwrap();
            assert_eq!(
                service.retry,
                RetrySchedule::new(vec![Duration::from_secs(1), Duration::from_secs(120)])
            );
            assert_eq!(service.disable_after, Duration::from_secs(3));

            jail.set_env("SLUICE_WEBHOOKS_RETRY_SCHEDULE", "200ms, 1s,5s");
            jail.set_env("SLUICE_WEBHOOKS_TIMEOUT", "2s");
            let config = Config::load(Some(Path::new("s.toml"))).unwrap();
            let service = config.webhook_config().unwrap();
            assert_eq!(service.retry.max_attempts(), 4);
            assert_eq!(
                service.retry.after_failure(1),
                Some(Duration::from_millis(200))
            );
            assert_eq!(service.request_timeout, Duration::from_secs(2));

            jail.set_env("SLUICE_WEBHOOKS_RETRY_SCHEDULE", "[1s, soon]");
            let error = format!("{:#}", Config::load(None).unwrap_err());
            assert!(error.contains("webhooks.retry_schedule"), "{error}");
            Ok(())
        });
    }
}
