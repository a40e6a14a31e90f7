//! Configuration keys and their environment variables, and refusals that name both.
//!
//! A key is its TOML path (`delivery.drain_timeout`); its variable is `SLUICE_` and the
//! path with `_` for `.`, upper-cased (`SLUICE_DELIVERY_DRAIN_TIMEOUT`), for top-level
//! keys and keys of the [`SECTIONS`]. Two families read differently: `admin.jwt.*` is
//! `SLUICE_JWT_*` (`public_key_pem` is `SLUICE_JWT_PUBLIC_KEY`) and
//! `quotas.<stream>.*` is `SLUICE_QUOTAS_<STREAM>_*`. Keys nested deeper
//! (`delivery.adaptive.recheck`) have no variable.

use figment::error::{Kind, OneOf};
use sluice_model::setting::InvalidSetting;

/// Sections whose keys are reachable as `SLUICE_<SECTION>_<KEY>`.
pub const SECTIONS: &[&str] = &[
    "delivery",
    "dns",
    "webhooks",
    "domains",
    "templates",
    "durability",
    "http",
    "metrics",
    "inbound",
    "queue",
    "reputation",
    "submission",
];

/// The key an environment variable (without `SLUICE_`) sets: `DELIVERY_DRAIN_TIMEOUT`
/// → `delivery.drain_timeout`, `JWT_SECRET` → `admin.jwt.secret`.
pub fn env_key(variable: &str) -> String {
    let key = variable.to_ascii_lowercase();
    if let Some(rest) = key.strip_prefix("jwt_") {
        let rest = if rest == "public_key" {
            "public_key_pem"
        } else {
            rest
        };
        return format!("admin.jwt.{rest}");
    }
    for stream in ["transactional", "bulk"] {
        if let Some(rest) = key.strip_prefix(&format!("quotas_{stream}_")) {
            return format!("quotas.{stream}.{rest}");
        }
    }
    // A top-level key that predates the `[inbound]` section of the same prefix.
    if key == "inbound_listen" {
        return key;
    }
    for section in SECTIONS {
        if let Some(rest) = key.strip_prefix(&format!("{section}_")) {
            return format!("{section}.{rest}");
        }
    }
    key
}

/// The environment variable that sets `key`, if one does: the inverse of
/// [`env_key`], checked against it.
pub fn env_var(key: &str) -> Option<String> {
    let variable = match key.strip_prefix("admin.jwt.") {
        Some("public_key_pem") => "JWT_PUBLIC_KEY".to_string(),
        Some(rest) => format!("JWT_{}", rest.to_ascii_uppercase()),
        None => key.replace('.', "_").to_ascii_uppercase(),
    };
    (env_key(&variable) == key).then(|| format!("SLUICE_{variable}"))
}

/// `` `delivery.max_age` (SLUICE_DELIVERY_MAX_AGE) ``: the key, and its environment
/// variable when it has one.
pub fn named(key: &str) -> String {
    match env_var(key) {
        Some(variable) => format!("`{key}` ({variable})"),
        None => format!("`{key}`"),
    }
}

/// A component's refusal (its key already under its section) as the error that stops
/// the start: `` invalid configuration: `webhooks.timeout` (SLUICE_WEBHOOKS_TIMEOUT)
/// must be more than zero ``.
pub fn refuse(refusal: InvalidSetting) -> anyhow::Error {
    anyhow::anyhow!(
        "invalid configuration: {} {}",
        named(&refusal.key),
        refusal.problem
    )
}

/// Values that could not be read into their types (a bad duration, an unknown key, a
/// word where a number belongs), every one with its key and where it came from.
pub fn unreadable(error: figment::Error) -> anyhow::Error {
    let problems: Vec<String> = error.into_iter().map(|e| describe(&e)).collect();
    anyhow::anyhow!("invalid configuration: {}", problems.join("; "))
}

fn describe(error: &figment::Error) -> String {
    let origin = match &error.metadata {
        Some(metadata) => match &metadata.source {
            Some(source) => format!(" (in {source})"),
            None => format!(" (from {})", metadata.name),
        },
        None => String::new(),
    };
    let mut path = error.path.clone();
    match &error.kind {
        Kind::UnknownField(field, _) => {
            // The path may or may not end with the unknown field already.
            if path.last() != Some(field) {
                path.push(field.clone());
            }
            format!("unknown key {}{origin}", named(&path.join(".")))
        }
        Kind::UnknownVariant(value, expected) if !path.is_empty() => format!(
            "{}: `{value}` is not {}{origin}",
            named(&path.join(".")),
            OneOf(expected)
        ),
        kind if !path.is_empty() => format!("{}: {kind}{origin}", named(&path.join("."))),
        kind => format!("{kind}{origin}"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn variables_and_keys_map_both_ways() {
        for (key, variable) in [
            ("workers", Some("SLUICE_WORKERS")),
            ("inbound_listen", Some("SLUICE_INBOUND_LISTEN")),
            ("inbound.max_session", Some("SLUICE_INBOUND_MAX_SESSION")),
            (
                "delivery.drain_timeout",
                Some("SLUICE_DELIVERY_DRAIN_TIMEOUT"),
            ),
            ("admin.jwt.secret", Some("SLUICE_JWT_SECRET")),
            ("admin.jwt.public_key_pem", Some("SLUICE_JWT_PUBLIC_KEY")),
            ("quotas.bulk.per_day", Some("SLUICE_QUOTAS_BULK_PER_DAY")),
            ("delivery.adaptive.recheck", None),
            ("quotas.bulk", None),
        ] {
            assert_eq!(env_var(key).as_deref(), variable, "{key}");
            if let Some(variable) = variable {
                let unprefixed = variable.trim_start_matches("SLUICE_");
                assert_eq!(env_key(unprefixed), key);
            }
        }
        assert_eq!(
            named("delivery.max_age"),
            "`delivery.max_age` (SLUICE_DELIVERY_MAX_AGE)"
        );
        assert_eq!(
            named("delivery.adaptive.cooldown"),
            "`delivery.adaptive.cooldown`"
        );
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API returns its own large error type.
    fn unreadable_values_name_their_key_once() {
        figment::Jail::expect_with(|jail| {
            let error = |jail: &mut figment::Jail, variable: &str, value: &str| {
                jail.clear_env();
                jail.set_env(variable, value);
                format!("{:#}", super::super::Config::load(None).unwrap_err())
            };
            let unknown = error(jail, "SLUICE_DELIVERY_NO_SUCH_KEY", "1");
            assert!(
                unknown
                    .contains("unknown key `delivery.no_such_key` (SLUICE_DELIVERY_NO_SUCH_KEY)"),
                "{unknown}"
            );
            let variant = error(jail, "SLUICE_LOG_FORMAT", "xml");
            assert!(
                variant.contains("`log_format` (SLUICE_LOG_FORMAT): `xml` is not `text` or `json`"),
                "{variant}"
            );
            Ok(())
        });
    }
}
