//! Every duration setting, parsed once by `Config::validate`: a bad value is refused at
//! start naming its key and environment variable (nothing falls back to a default at
//! run time), and combinations that cannot work are refused with both keys named.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, bail};

use super::{Config, SECTIONS, parse_duration};

/// Keys where zero is a meaningful choice; every other duration must be positive.
const MAY_BE_ZERO: &[&str] = &["delivery.adaptive.cooldown", "webhooks.rotation_grace"];

impl Config {
    /// Every single-valued duration key with its value (the two retry schedules are
    /// lists, parsed by [`Config::retry_schedule`] and [`Config::webhook_config`]). A
    /// new duration key belongs here, so that `validate` refuses a bad value by name;
    /// a test checks that every default value that reads as a duration is covered.
    fn duration_settings(&self) -> Vec<(&'static str, &str)> {
        let (d, w) = (&self.delivery, &self.webhooks);
        vec![
            ("retention", &self.retention),
            ("delivery.max_age", &d.max_age),
            ("delivery.reclaim_idle", &d.reclaim_idle),
            ("delivery.drain_timeout", &d.drain_timeout),
            ("delivery.liveness_ttl", &d.liveness_ttl),
            ("delivery.connect_timeout", &d.connect_timeout),
            ("delivery.greeting_timeout", &d.greeting_timeout),
            ("delivery.command_timeout", &d.command_timeout),
            ("delivery.data_timeout", &d.data_timeout),
            ("delivery.adaptive.cooldown", &d.adaptive.cooldown),
            ("delivery.adaptive.recheck", &d.adaptive.recheck),
            ("webhooks.disable_after", &w.disable_after),
            ("webhooks.timeout", &w.timeout),
            ("webhooks.rotation_grace", &w.rotation_grace),
            ("webhooks.drain_timeout", &w.drain_timeout),
            ("domains.reverify_interval", &self.domains.reverify_interval),
            ("domains.dkim_overlap", &self.domains.dkim_overlap),
            ("templates.render_timeout", &self.templates.render_timeout),
            (
                "durability.replica_timeout",
                &self.durability.replica_timeout,
            ),
            ("durability.check_interval", &self.durability.check_interval),
            ("http.header_read_timeout", &self.http.header_read_timeout),
            ("http.request_timeout", &self.http.request_timeout),
            ("http.keep_alive_timeout", &self.http.keep_alive_timeout),
            ("inbound.command_timeout", &self.inbound.command_timeout),
            ("inbound.max_session", &self.inbound.max_session),
        ]
    }

    /// Parses every duration key, then checks the ones that depend on each other.
    pub(super) fn validate_durations(&self) -> anyhow::Result<()> {
        let mut parsed = BTreeMap::new();
        for (key, value) in self.duration_settings() {
            let duration = parse_duration(value)
                .with_context(|| format!("invalid configuration: {}", named(key)))?;
            if duration.is_zero() && !MAY_BE_ZERO.contains(&key) {
                bail!(
                    "invalid configuration: {} must be more than zero",
                    named(key)
                );
            }
            parsed.insert(key, duration);
        }
        let longest_retry = self.retry_schedule()?.into_iter().max().unwrap_or_default();
        let retention = parsed.get("retention").copied().unwrap_or_default();
        for (key, needed) in [
            ("delivery.max_age", parsed.get("delivery.max_age").copied()),
            ("delivery.retry_schedule", Some(longest_retry)),
        ] {
            let needed = needed.unwrap_or_default();
            if retention <= needed {
                bail!(
                    "invalid configuration: {} = {} must be longer than {} = {}: message records expire after the retention period, so a message still being retried would lose its record and be dropped",
                    named("retention"),
                    format_duration(retention),
                    if key == "delivery.retry_schedule" {
                        format!("the longest delay in {}", named(key))
                    } else {
                        named(key)
                    },
                    format_duration(needed),
                );
            }
        }
        Ok(())
    }

    /// `delivery.retry_schedule`, parsed: not empty, every delay positive.
    pub fn retry_schedule(&self) -> anyhow::Result<Vec<Duration>> {
        let key = named("delivery.retry_schedule");
        if self.delivery.retry_schedule.is_empty() {
            bail!("invalid configuration: {key} must not be empty");
        }
        self.delivery
            .retry_schedule
            .iter()
            .map(|value| {
                let delay = parse_duration(value)
                    .with_context(|| format!("invalid configuration: {key}"))?;
                if delay.is_zero() {
                    bail!("invalid configuration: {key}: every delay must be more than zero");
                }
                Ok(delay)
            })
            .collect()
    }
}

/// `` `delivery.max_age` (SLUICE_DELIVERY_MAX_AGE) ``: the TOML key, and its
/// environment variable when it has one (keys nested two levels deep have none).
fn named(key: &str) -> String {
    let reachable = match key.split_once('.') {
        None => true,
        Some((section, rest)) => SECTIONS.contains(&section) && !rest.contains('.'),
    };
    if reachable {
        format!(
            "`{key}` (SLUICE_{})",
            key.replace('.', "_").to_ascii_uppercase()
        )
    } else {
        format!("`{key}`")
    }
}

/// The inverse of [`parse_duration`], in the largest unit that divides evenly:
/// `5m`, `4h`, `5d`, `250ms`.
pub fn format_duration(duration: Duration) -> String {
    let ms = duration.as_millis();
    if !ms.is_multiple_of(1000) {
        return format!("{ms}ms");
    }
    let seconds = duration.as_secs();
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60)] {
        if seconds != 0 && seconds.is_multiple_of(size) {
            return format!("{}{unit}", seconds / size);
        }
    }
    format!("{seconds}s")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn refusal(change: impl FnOnce(&mut Config)) -> String {
        let mut config = Config::default();
        change(&mut config);
        format!("{:#}", config.validate().unwrap_err())
    }

    #[test]
    fn the_defaults_are_valid_and_come_from_the_retry_policy() {
        let config = Config::default();
        config.validate().unwrap();
        let policy = sluice_delivery::retry::RetryPolicy::default();
        assert_eq!(config.retry_schedule().unwrap(), policy.schedule);
        assert_eq!(
            parse_duration(&config.delivery.max_age).unwrap(),
            policy.max_age
        );
        assert_eq!(config.delivery.retry_schedule[..2], ["5m", "30m"]);
        assert_eq!(config.delivery.max_age, "5d");
    }

    #[test]
    fn durations_print_as_they_parse() {
        for text in ["250ms", "1500ms", "90s", "5m", "90m", "4h", "5d", "0s"] {
            assert_eq!(format_duration(parse_duration(text).unwrap()), text);
        }
    }

    #[test]
    fn a_retention_not_longer_than_the_maximum_age_is_refused() {
        let error = refusal(|c| {
            c.retention = "5d".into();
            c.delivery.max_age = "5d".into();
        });
        for part in [
            "`retention` (SLUICE_RETENTION)",
            "`delivery.max_age` (SLUICE_DELIVERY_MAX_AGE)",
        ] {
            assert!(error.contains(part), "{error}");
        }
        let config = Config {
            retention: "6d".into(),
            ..Config::default()
        };
        config.validate().unwrap();
    }

    #[test]
    fn a_retention_not_longer_than_the_longest_retry_delay_is_refused() {
        let error = refusal(|c| {
            c.retention = "2h".into();
            c.delivery.max_age = "1h".into();
            c.delivery.retry_schedule = vec!["5m".into(), "3h".into(), "1h".into()];
        });
        for part in [
            "`retention` (SLUICE_RETENTION)",
            "`delivery.retry_schedule` (SLUICE_DELIVERY_RETRY_SCHEDULE)",
            "3h",
        ] {
            assert!(error.contains(part), "{error}");
        }
    }

    #[test]
    fn an_empty_or_zero_retry_schedule_is_refused() {
        let error = refusal(|c| c.delivery.retry_schedule.clear());
        assert!(
            error.contains(
                "`delivery.retry_schedule` (SLUICE_DELIVERY_RETRY_SCHEDULE) must not be empty"
            ),
            "{error}"
        );
        let error = refusal(|c| c.delivery.retry_schedule = vec!["1m".into(), "0s".into()]);
        assert!(error.contains("more than zero"), "{error}");
    }

    #[test]
    fn zero_waits_and_timeouts_are_refused() {
        for (key, env) in [
            ("delivery.reclaim_idle", "SLUICE_DELIVERY_RECLAIM_IDLE"),
            ("delivery.drain_timeout", "SLUICE_DELIVERY_DRAIN_TIMEOUT"),
            ("delivery.liveness_ttl", "SLUICE_DELIVERY_LIVENESS_TTL"),
            (
                "delivery.connect_timeout",
                "SLUICE_DELIVERY_CONNECT_TIMEOUT",
            ),
            (
                "delivery.greeting_timeout",
                "SLUICE_DELIVERY_GREETING_TIMEOUT",
            ),
            (
                "delivery.command_timeout",
                "SLUICE_DELIVERY_COMMAND_TIMEOUT",
            ),
            ("delivery.data_timeout", "SLUICE_DELIVERY_DATA_TIMEOUT"),
            ("webhooks.drain_timeout", "SLUICE_WEBHOOKS_DRAIN_TIMEOUT"),
            ("retention", "SLUICE_RETENTION"),
        ] {
            let error = refusal(|c| set(c, key, "0ms"));
            assert!(
                error.contains(&format!("`{key}` ({env}) must be more than zero")),
                "{key}: {error}"
            );
        }
        let mut config = Config::default();
        config.webhooks.rotation_grace = "0s".into();
        config.validate().unwrap();
    }

    #[test]
    fn every_bad_duration_names_its_key() {
        for key in all_keys() {
            let error = refusal(|c| set(c, key, "soon"));
            assert!(error.contains(&format!("`{key}`")), "{key}: {error}");
            assert!(error.contains("soon"), "{key}: {error}");
        }
        let error = refusal(|c| c.delivery.adaptive.recheck = "1 minute".into());
        assert!(error.contains("`delivery.adaptive.recheck`"), "{error}");
    }

    /// Every default that reads as a duration is a key `validate` parses by name, so a
    /// bad value can never fall back silently at run time.
    #[test]
    fn every_duration_key_is_listed() {
        let mut found = Vec::new();
        collect_durations(
            &serde_json::to_value(Config::default()).unwrap(),
            "",
            &mut found,
        );
        let listed = all_keys();
        assert!(found.len() >= listed.len(), "{found:?}");
        for key in found {
            assert!(
                listed.contains(&key.as_str()),
                "`{key}` looks like a duration: add it to Config::duration_settings"
            );
        }
    }

    fn all_keys() -> Vec<&'static str> {
        let config = Config::default();
        let settings = config.duration_settings();
        let lists = ["delivery.retry_schedule", "webhooks.retry_schedule"];
        settings.iter().map(|(key, _)| *key).chain(lists).collect()
    }

    fn collect_durations(value: &serde_json::Value, path: &str, found: &mut Vec<String>) {
        let is_duration =
            |v: &serde_json::Value| v.as_str().is_some_and(|s| parse_duration(s).is_ok());
        match value {
            serde_json::Value::Object(map) => {
                for (key, value) in map {
                    let path = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    collect_durations(value, &path, found);
                }
            }
            serde_json::Value::Array(items) if items.iter().any(is_duration) => {
                found.push(path.into());
            }
            v if is_duration(v) => found.push(path.into()),
            _ => {}
        }
    }

    fn set(config: &mut Config, key: &str, value: &str) {
        let (d, w) = (&mut config.delivery, &mut config.webhooks);
        let field = match key {
            "retention" => &mut config.retention,
            "delivery.max_age" => &mut d.max_age,
            "delivery.reclaim_idle" => &mut d.reclaim_idle,
            "delivery.drain_timeout" => &mut d.drain_timeout,
            "delivery.liveness_ttl" => &mut d.liveness_ttl,
            "delivery.connect_timeout" => &mut d.connect_timeout,
            "delivery.greeting_timeout" => &mut d.greeting_timeout,
            "delivery.command_timeout" => &mut d.command_timeout,
            "delivery.data_timeout" => &mut d.data_timeout,
            "delivery.adaptive.cooldown" => &mut d.adaptive.cooldown,
            "delivery.adaptive.recheck" => &mut d.adaptive.recheck,
            "webhooks.disable_after" => &mut w.disable_after,
            "webhooks.timeout" => &mut w.timeout,
            "webhooks.rotation_grace" => &mut w.rotation_grace,
            "webhooks.drain_timeout" => &mut w.drain_timeout,
            "domains.reverify_interval" => &mut config.domains.reverify_interval,
            "domains.dkim_overlap" => &mut config.domains.dkim_overlap,
            "templates.render_timeout" => &mut config.templates.render_timeout,
            "durability.replica_timeout" => &mut config.durability.replica_timeout,
            "durability.check_interval" => &mut config.durability.check_interval,
            "http.header_read_timeout" => &mut config.http.header_read_timeout,
            "http.request_timeout" => &mut config.http.request_timeout,
            "http.keep_alive_timeout" => &mut config.http.keep_alive_timeout,
            "inbound.command_timeout" => &mut config.inbound.command_timeout,
            "inbound.max_session" => &mut config.inbound.max_session,
            "delivery.retry_schedule" => {
                d.retry_schedule = vec!["1m".into(), value.into()];
                return;
            }
            "webhooks.retry_schedule" => {
                w.retry_schedule = vec!["1m".into(), value.into()];
                return;
            }
            other => panic!("no such key {other}"),
        };
        *field = value.into();
    }
}
