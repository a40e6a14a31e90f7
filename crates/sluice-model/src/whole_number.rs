//! Whole numbers written as JSON numbers of any form: `2`, and also `2.0` or `2e0`,
//! which JSON Schema's `integer` (and so OpenAPI clients and fuzzers) count as the
//! same integer, while serde's integer types refuse them.

use serde::{Deserialize, Deserializer, de::Error};

/// For `#[serde(default, deserialize_with = "…")]` on an `Option<u32>` documented as
/// an `int32`: `null` or absent is `None`; a number must be whole, from 0 to 2^31 - 1.
pub fn option_u32<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u32>, D::Error> {
    let Some(number) = Option::<serde_json::Number>::deserialize(deserializer)? else {
        return Ok(None);
    };
    let whole = number.as_u64().or_else(|| {
        number
            .as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= f64::from(i32::MAX))
            .map(|f| f as u64)
    });
    whole
        .filter(|n| *n <= i32::MAX as u64)
        .map(|n| Some(n as u32))
        .ok_or_else(|| {
            D::Error::custom(format!(
                "must be a whole number from 0 to {}, got {number}",
                i32::MAX
            ))
        })
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
