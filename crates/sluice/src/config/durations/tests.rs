#![allow(clippy::unwrap_used)]
#![allow(clippy::result_large_err)] // figment's Jail API returns its own large error type.

use std::path::Path;
use std::time::Duration;

use sluice_model::duration::parse;

use super::*;

/// Keys where zero is a meaningful choice; every other wait and timeout must be positive.
const MAY_BE_ZERO: &[&str] = &["delivery.adaptive.cooldown", "webhooks.rotation_grace"];

fn refusal(change: impl FnOnce(&mut Config)) -> String {
    let mut config = Config::default();
    change(&mut config);
    format!("{:#}", config.validate().unwrap_err())
}

fn minutes(m: u64) -> Duration {
    Duration::from_secs(m * 60)
}

/// `key = value` as a TOML file (`value` is TOML: `"5m"`, `["1m", "0s"]`).
fn toml_setting(key: &str, value: &str) -> String {
    match key.rsplit_once('.') {
        Some((table, leaf)) => format!("[{table}]\n{leaf} = {value}\n"),
        None => format!("{key} = {value}\n"),
    }
}

/// Loads a file that sets `key` to `value`, with the defaults for everything else.
fn load_setting(jail: &mut figment::Jail, key: &str, value: &str) -> Result<Config, String> {
    jail.create_file("s.toml", &toml_setting(key, value))
        .unwrap();
    Config::load(Some(Path::new("s.toml"))).map_err(|e| format!("{e:#}"))
}

#[test]
fn the_defaults_are_valid_and_come_from_the_retry_policy() {
    let config = Config::default();
    config.validate().unwrap();
    let policy = sluice_delivery::retry::RetryPolicy::default();
    assert_eq!(config.delivery.retry_policy().unwrap(), policy);
    assert_eq!(config.delivery.max_age, policy.max_age);
    let file = serde_json::to_value(&config.delivery).unwrap();
    assert_eq!(file["retry_schedule"][0], "5m");
    assert_eq!(file["retry_schedule"][1], "30m");
    assert_eq!(file["max_age"], "5d");
}

#[test]
fn a_retention_not_longer_than_the_maximum_age_is_refused() {
    let error = refusal(|c| {
        c.retention = Duration::from_secs(5 * 86_400);
        c.delivery.max_age = Duration::from_secs(5 * 86_400);
    });
    for part in [
        "`retention` (SLUICE_RETENTION)",
        "`delivery.max_age` (SLUICE_DELIVERY_MAX_AGE)",
    ] {
        assert!(error.contains(part), "{error}");
    }
    let config = Config {
        retention: Duration::from_secs(6 * 86_400),
        ..Config::default()
    };
    config.validate().unwrap();
}

#[test]
fn a_retention_not_longer_than_the_longest_retry_delay_is_refused() {
    let error = refusal(|c| {
        c.retention = minutes(120);
        c.delivery.max_age = minutes(60);
        c.delivery.retry_schedule = vec![minutes(5), minutes(180), minutes(60)];
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
    let error = refusal(|c| c.delivery.retry_schedule = vec![minutes(1), Duration::ZERO]);
    assert!(error.contains("more than zero"), "{error}");
}

#[test]
fn zero_waits_and_timeouts_are_refused() {
    figment::Jail::expect_with(|jail| {
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
            let error = load_setting(jail, key, "\"0ms\"").unwrap_err();
            assert!(
                error.contains(&format!("`{key}` ({env}) must be more than zero")),
                "{key}: {error}"
            );
        }
        let config = load_setting(jail, "webhooks.rotation_grace", "\"0s\"").unwrap();
        assert_eq!(config.webhooks.rotation_grace, Duration::ZERO);
        Ok(())
    });
}

/// The guarantee the old list of duration keys gave, without the list: every
/// default that reads as a duration is a typed key — its text round-trips, a bad
/// value is refused naming the key (and its variable), and so is zero, unless zero is
/// a meaningful choice there.
#[test]
fn every_duration_key_is_typed_and_refused_by_name() {
    let mut found = Vec::new();
    collect_durations(
        &serde_json::to_value(Config::default()).unwrap(),
        "",
        &mut found,
    );
    assert!(found.len() >= 27, "{found:?}");
    figment::Jail::expect_with(|jail| {
        for (key, default, is_list) in &found {
            let (bad, zero) = if *is_list {
                (r#"["1m", "soon"]"#, r#"["1m", "0s"]"#)
            } else {
                (r#""soon""#, r#""0s""#)
            };
            let config = load_setting(jail, key, default).unwrap();
            let reread = serde_json::to_value(config).unwrap();
            assert_eq!(
                lookup(&reread, key).to_string(),
                *default,
                "{key} round-trips"
            );

            let error = load_setting(jail, key, bad).unwrap_err();
            assert!(
                error.contains(&named(key)) && error.contains("soon"),
                "{key}: {error}"
            );
            let zeroed = load_setting(jail, key, zero);
            if MAY_BE_ZERO.contains(&key.as_str()) {
                zeroed.unwrap();
            } else {
                let error = zeroed.unwrap_err();
                assert!(
                    error.contains(&named(key)) && error.contains("more than zero"),
                    "{key}: {error}"
                );
            }
        }
        Ok(())
    });
}

/// `(key, default as TOML, whether it is a list)` of every duration-looking default.
fn collect_durations(
    value: &serde_json::Value,
    path: &str,
    found: &mut Vec<(String, String, bool)>,
) {
    let is_duration = |v: &serde_json::Value| v.as_str().is_some_and(|s| parse(s).is_ok());
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
            found.push((path.into(), value.to_string(), true));
        }
        v if is_duration(v) => found.push((path.into(), v.to_string(), false)),
        _ => {}
    }
}

fn lookup<'a>(value: &'a serde_json::Value, key: &str) -> &'a serde_json::Value {
    key.split('.').fold(value, |v, part| &v[part])
}
