//! `[webhooks]` ([`WebhooksConfig`](super::WebhooksConfig), beside the webhook
//! service): how events reach tenants' endpoints (`SLUICE_WEBHOOKS_<KEY>`).

use sluice_events::WebhookConfig;

use super::Config;
use super::keys::refuse;

impl Config {
    /// The webhook service's settings, validated (names the key at fault).
    pub fn webhook_config(&self) -> anyhow::Result<WebhookConfig> {
        let mut config = self
            .webhooks
            .service_config(self.webhook_allow_private)
            .map_err(|e| refuse(e.within("webhooks")))?;
        config.reputation = self.reputation_policy()?;
        Ok(config)
    }

    /// What the API's webhook routes need.
    pub fn webhook_api_settings(
        &self,
    ) -> anyhow::Result<sluice_api::routes::webhooks::WebhookSettings> {
        let service = self.webhook_config()?;
        Ok(sluice_api::routes::webhooks::WebhookSettings {
            allow_private: self.webhook_allow_private,
            rotation_grace: self.webhooks.rotation_grace,
            delivery_ttl: service.delivery_ttl(),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::path::Path;
    use std::time::Duration;

    use sluice_events::RetrySchedule;

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
