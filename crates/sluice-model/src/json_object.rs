//! Nested request objects that must be JSON objects. serde fills a struct from an
//! array of its fields in order too (`[null, null]`), which no client means and the
//! schema does not allow; these refuse it. (The top level is checked where bodies
//! are read.)

use serde::de::{DeserializeOwned, Error};
use serde::{Deserialize, Deserializer};

fn from_object<T: DeserializeOwned, E: Error>(value: serde_json::Value) -> Result<T, E> {
    if !value.is_object() {
        return Err(E::custom("must be a JSON object"));
    }
    serde_json::from_value(value).map_err(E::custom)
}

/// An optional nested object: absent or `null` is `None`.
pub fn option<'de, D: Deserializer<'de>, T: DeserializeOwned>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    match Option::<serde_json::Value>::deserialize(deserializer)? {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(value) => from_object(value).map(Some),
    }
}

/// A list of objects.
pub fn vec<'de, D: Deserializer<'de>, T: DeserializeOwned>(
    deserializer: D,
) -> Result<Vec<T>, D::Error> {
    Vec::<serde_json::Value>::deserialize(deserializer)?
        .into_iter()
        .map(from_object)
        .collect()
}

#[cfg(test)]
mod tests {
    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Inner {
        a: Option<u8>,
    }

    #[derive(serde::Deserialize, Debug)]
    struct Outer {
        #[serde(default, deserialize_with = "super::option")]
        one: Option<Inner>,
        #[serde(default, deserialize_with = "super::vec")]
        many: Vec<Inner>,
    }

    #[test]
    fn objects_yes_arrays_no() {
        let ok: Outer = serde_json::from_str(r#"{"one": {"a": 1}, "many": [{"a": 2}]}"#)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ok.one, Some(Inner { a: Some(1) }));
        assert_eq!(ok.many, vec![Inner { a: Some(2) }]);
        let none: Outer =
            serde_json::from_str(r#"{"one": null}"#).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(none.one, None);
        assert!(serde_json::from_str::<Outer>(r#"{"one": [null]}"#).is_err());
        assert!(serde_json::from_str::<Outer>(r#"{"many": [[null]]}"#).is_err());
    }
}
