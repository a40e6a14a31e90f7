//! Opaque identifiers. Each is a type prefix plus a ULID, so ids sort by creation
//! time and a mistyped id (a key id where a message id belongs) is rejected by parsing.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not a valid {kind} id")]
pub struct IdError {
    pub kind: &'static str,
}

macro_rules! prefixed_id {
    ($name:ident, $prefix:literal, $kind:literal) => {
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;
            /// What [`parse`](Self::parse) accepts, as a regular expression (ECMA 262, for
            /// the OpenAPI document): the prefix, then 26 Crockford base-32 digits.
            pub const PATTERN: &'static str =
                concat!("^", $prefix, "[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{26}$");

            /// A new, time-ordered id.
            pub fn generate() -> Self {
                Self(format!(
                    "{}{}",
                    $prefix,
                    ulid::Ulid::new().to_string().to_lowercase()
                ))
            }

            pub fn parse(value: &str) -> Result<Self, IdError> {
                let rest = value.strip_prefix($prefix).ok_or(IdError { kind: $kind })?;
                if rest.len() == 26 && ulid::Ulid::from_string(rest).is_ok() {
                    Ok(Self(value.to_ascii_lowercase()))
                } else {
                    Err(IdError { kind: $kind })
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, IdError> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .description(Some(concat!(
                        "Identifier: `",
                        $prefix,
                        "` followed by a ULID."
                    )))
                    .pattern(Some(Self::PATTERN))
                    .examples([serde_json::Value::String(
                        concat!($prefix, "01jdx8k3m5n6p7q8r9s0t1v2w3").into(),
                    )])
                    .into()
            }
        }
        impl utoipa::ToSchema for $name {}
    };
}

prefixed_id!(TenantId, "ten_", "tenant");
prefixed_id!(MessageId, "msg_", "message");
prefixed_id!(ApiKeyId, "key_", "API key");
prefixed_id!(WebhookId, "wh_", "webhook");
prefixed_id!(TemplateId, "tpl_", "template");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pattern_accepts_exactly_what_parse_accepts() {
        let pattern = regex::Regex::new(MessageId::PATTERN).expect("a valid pattern");
        let generated = MessageId::generate();
        let samples = [
            generated.as_str(),
            "msg_01JDX8K3M5N6P7Q8R9S0T1V2W3",
            "msg_01jdx8k3m5n6p7q8r9s0t1v2w3",
            "msg_zzzzzzzzzzzzzzzzzzzzzzzzzz",
            "msg_01jdx8k3m5n6p7q8r9s0t1v2w",
            "msg_01jdx8k3m5n6p7q8r9s0t1v2w3x",
            "msg_01jdx8k3m5n6p7q8r9s0t1v2wi",
            "msg_01jdx8k3m5n6p7q8r9s0t1v2wu",
            "MSG_01jdx8k3m5n6p7q8r9s0t1v2w3",
            "tpl_01jdx8k3m5n6p7q8r9s0t1v2w3",
            "msg_",
            "",
        ];
        for sample in samples {
            assert_eq!(
                pattern.is_match(sample),
                MessageId::parse(sample).is_ok(),
                "{sample:?}"
            );
        }
    }

    #[test]
    fn generated_ids_parse_back() {
        let id = MessageId::generate();
        assert_eq!(MessageId::parse(id.as_str()), Ok(id.clone()));
        assert!(id.as_str().starts_with("msg_"));
    }

    #[test]
    fn wrong_prefix_or_garbage_is_rejected() {
        let tenant = TenantId::generate();
        assert!(MessageId::parse(tenant.as_str()).is_err());
        assert!(MessageId::parse("msg_nope").is_err());
        assert!(MessageId::parse("msg_01jdx8k3m5n6p7q8r9s0t1v2w!").is_err());
    }
}
