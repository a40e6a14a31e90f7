//! Durations as configuration writes them: `250ms`, `90s`, `5m`, `4h`, `3d`.
//!
//! Parsed once, where the configuration is read: a config field of type
//! [`Duration`] takes `#[serde(with = "sluice_model::duration")]` (or
//! [`duration::list`](list) for a list of delays), so a bad value is refused at start
//! with its key, and nothing re-parses text afterwards. Serializing writes the same
//! text back ([`format`]), so defaults can be layered under a file and the environment.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serializer};

/// Why a text is not a duration.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("`{0}` is not a duration like 90s, 5m, 4h or 3d")]
    NotADuration(String),
    #[error("`{0}` has no valid unit (ms, s, m, h, d)")]
    NoUnit(String),
}

/// `250ms`, `90s`, `5m`, `4h`, `3d`: digits, then one unit, surrounding spaces ignored.
pub fn parse(value: &str) -> Result<Duration, DurationError> {
    let value = value.trim();
    let split = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let not_a_duration = || DurationError::NotADuration(value.to_string());
    let number: u64 = number.parse().map_err(|_| not_a_duration())?;
    let factor = match unit {
        "ms" => return Ok(Duration::from_millis(number)),
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(DurationError::NoUnit(value.to_string())),
    };
    number
        .checked_mul(factor)
        .map(Duration::from_secs)
        .ok_or_else(not_a_duration)
}

/// The inverse of [`parse`], in the largest unit that divides evenly: `5m`, `4h`,
/// `5d`, `250ms`.
pub fn format(duration: Duration) -> String {
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

/// `#[serde(with = "sluice_model::duration")]`: written as text ([`format`]).
pub fn serialize<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format(*duration))
}

/// `#[serde(with = "sluice_model::duration")]`: read from text ([`parse`]).
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse(&text).map_err(serde::de::Error::custom)
}

/// `#[serde(with = "sluice_model::duration::list")]`: a list of durations, written as
/// a list of texts; read from a list, or from one comma-separated text (the form an
/// environment variable gives: `5s,5m,30m` or `[5s, 5m]`).
pub mod list {
    use std::time::Duration;

    use serde::ser::SerializeSeq;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        durations: &[Duration],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(durations.len()))?;
        for duration in durations {
            seq.serialize_element(&super::format(*duration))?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<Duration>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            List(Vec<String>),
            Text(String),
        }
        let items = match Form::deserialize(deserializer)? {
            Form::List(items) => items,
            Form::Text(text) => text
                .trim_matches(|c| c == '[' || c == ']')
                .split(',')
                .map(|s| s.trim().trim_matches('"').to_string())
                .filter(|s| !s.is_empty())
                .collect(),
        };
        items
            .iter()
            .map(|item| super::parse(item).map_err(serde::de::Error::custom))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse(" 90s ").unwrap(), Duration::from_secs(90));
        assert_eq!(parse("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse("3d").unwrap(), Duration::from_secs(259_200));
        assert_eq!(
            parse("5 minutes").unwrap_err().to_string(),
            "`5 minutes` has no valid unit (ms, s, m, h, d)"
        );
        assert_eq!(
            parse("m").unwrap_err().to_string(),
            "`m` is not a duration like 90s, 5m, 4h or 3d"
        );
        assert!(parse("soon").is_err());
        assert!(parse("99999999999999999999d").is_err());
        assert!(parse("999999999999999999d").is_err(), "overflows");
    }

    #[test]
    fn durations_print_as_they_parse() {
        for text in ["250ms", "1500ms", "90s", "5m", "90m", "4h", "5d", "0s"] {
            assert_eq!(format(parse(text).unwrap()), text);
        }
    }

    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Fields {
        #[serde(with = "crate::duration")]
        one: Duration,
        #[serde(with = "crate::duration::list")]
        many: Vec<Duration>,
    }

    #[test]
    fn fields_read_and_write_text() {
        let fields: Fields =
            serde_json::from_str(r#"{"one": "90s", "many": ["5s", "5m"]}"#).unwrap();
        assert_eq!(fields.one, Duration::from_secs(90));
        assert_eq!(
            fields.many,
            [Duration::from_secs(5), Duration::from_secs(300)]
        );
        assert_eq!(
            serde_json::to_string(&fields).unwrap(),
            r#"{"one":"90s","many":["5s","5m"]}"#
        );
        let commas: Fields =
            serde_json::from_str(r#"{"one": "1s", "many": "[200ms, 1s,5s]"}"#).unwrap();
        assert_eq!(commas.many.len(), 3);
        let error = serde_json::from_str::<Fields>(r#"{"one": "2 days", "many": []}"#)
            .unwrap_err()
            .to_string();
        assert!(error.contains("`2 days` has no valid unit"), "{error}");
        assert!(serde_json::from_str::<Fields>(r#"{"one": "1s", "many": "1s, soon"}"#).is_err());
    }
}
