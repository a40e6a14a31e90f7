//! Whole numbers written as JSON numbers of any form: `2`, and also `2.0` or `2e0`,
//! which JSON Schema's `integer` (and so OpenAPI clients and fuzzers) count as the
//! same integer, while serde's integer types refuse them.

use serde::{Deserialize, Deserializer, de::Error};

/// `null` (or nothing) as `None`; a number as `Some` if it is whole and from 0 to
/// `max`, else an error saying so.
fn option_up_to<'de, D: Deserializer<'de>>(
    deserializer: D,
    max: u64,
) -> Result<Option<u64>, D::Error> {
    let Some(number) = Option::<serde_json::Number>::deserialize(deserializer)? else {
        return Ok(None);
    };
    number
        .as_u64()
        .or_else(|| {
            number
                .as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= max as f64)
                .map(|f| f as u64)
        })
        .filter(|n| *n <= max)
        .map(Some)
        .ok_or_else(|| {
            D::Error::custom(format!(
                "must be a whole number from 0 to {max}, got {number}"
            ))
        })
}

/// For `#[serde(default, deserialize_with = "…")]` on an `Option<u32>` documented as
/// an `int32`: `null` or absent is `None`; a number must be whole, from 0 to 2^31 - 1.
pub fn option_u32<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u32>, D::Error> {
    // At most i32::MAX, so the cast keeps the value.
    Ok(option_up_to(deserializer, i32::MAX as u64)?.map(|n| n as u32))
}

/// For a patch field (`Option<Option<u32>>`, an `int32`): absent is `None` (with
/// `#[serde(default)]`), `null` is `Some(None)`, a whole number `Some(Some(n))`.
pub fn patch_u32<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<u32>>, D::Error> {
    option_u32(deserializer).map(Some)
}

/// As [`patch_u32`], for an `int64` (0 to 2^63 - 1).
pub fn patch_u64<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<u64>>, D::Error> {
    option_up_to(deserializer, i64::MAX as u64).map(Some)
}

#[cfg(test)]
mod tests {
    #[derive(serde::Deserialize, Debug)]
    struct Holder {
        #[serde(default, deserialize_with = "super::option_u32")]
        n: Option<u32>,
    }

    fn n(json: &str) -> Result<Option<u32>, String> {
        serde_json::from_str::<Holder>(json)
            .map(|h| h.n)
            .map_err(|e| e.to_string())
    }

    #[derive(serde::Deserialize, Debug)]
    struct Patch {
        #[serde(default, deserialize_with = "super::patch_u64")]
        n: Option<Option<u64>>,
    }

    #[test]
    fn patches_tell_absent_from_null() {
        let n = |json: &str| serde_json::from_str::<Patch>(json).map(|p| p.n).ok();
        assert_eq!(n("{}"), Some(None));
        assert_eq!(n(r#"{"n": null}"#), Some(Some(None)));
        assert_eq!(n(r#"{"n": 7.0}"#), Some(Some(Some(7))));
        assert_eq!(n(r#"{"n": 9223372036854775808}"#), None);
    }

    #[test]
    fn whole_numbers_in_any_form_and_nothing_else() {
        assert_eq!(n("{}"), Ok(None));
        assert_eq!(n(r#"{"n": null}"#), Ok(None));
        assert_eq!(n(r#"{"n": 2}"#), Ok(Some(2)));
        assert_eq!(n(r#"{"n": 5136.0}"#), Ok(Some(5136)));
        assert_eq!(n(r#"{"n": 2e1}"#), Ok(Some(20)));
        assert!(n(r#"{"n": 2.5}"#).is_err());
        assert!(n(r#"{"n": -1}"#).is_err());
        assert_eq!(n(r#"{"n": 2147483647}"#), Ok(Some(2_147_483_647)));
        assert!(n(r#"{"n": 2147483648}"#).is_err());
        assert!(n(r#"{"n": "2"}"#).is_err());
    }
}
