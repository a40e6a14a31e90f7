//! The request's own header lines: names and values safe to write, no structural
//! header, loop protection (`Received`) and RFC 3834 `Auto-Submitted`.
//!
//! Header names are case-insensitive (RFC 5322 §1.2.2), so JSON keys that differ only
//! in case are the same header for every rule here: they count together towards the
//! `Received` limit, and together may give `Auto-Submitted` only once.

use std::collections::BTreeMap;

use super::FieldError;
use crate::message::{HeaderName, HeaderValue, HeaderValues, RESERVED_HEADERS};

/// More `Received` headers than this means the message is going round in circles
/// (RFC 5321 §6.3 suggests refusing at a large count; 25 is what MTAs use).
pub(super) const MAX_RECEIVED: usize = 25;
/// Header lines a request may add in all: beyond loop traces and a few custom fields
/// nothing needs more, and each line costs work in MIME building and DKIM signing.
const MAX_HEADER_LINES: usize = 100;

/// The request's headers as lines in order (keys in map order, each key's values in
/// the order given), with one error per bad field.
pub(super) fn validate_headers(
    raw: &BTreeMap<String, HeaderValues>,
    errors: &mut Vec<FieldError>,
) -> Vec<(HeaderName, HeaderValue)> {
    check_counts(raw, errors);
    let mut headers = Vec::new();
    for (name, values) in raw {
        let field = format!("headers.{name}");
        let parsed_name = match HeaderName::parse(name) {
            Ok(n) => n,
            Err(e) => {
                errors.push(FieldError::new(field, e));
                continue;
            }
        };
        if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            errors.push(FieldError::new(
                field,
                "is set by Sluice; use the dedicated field instead",
            ));
            continue;
        }
        let values = values.as_slice();
        if values.is_empty() {
            errors.push(FieldError::new(
                field,
                "an array of values must not be empty",
            ));
            continue;
        }
        let auto_submitted = name.eq_ignore_ascii_case("auto-submitted");
        for (i, value) in values.iter().enumerate() {
            let field = match values.len() {
                1 => field.clone(),
                _ => format!("{field}[{i}]"),
            };
            let checked = HeaderValue::parse(value).and_then(|v| {
                if auto_submitted {
                    check_auto_submitted(v.as_str())?;
                }
                Ok(v)
            });
            match checked {
                Ok(v) => headers.push((parsed_name.clone(), v)),
                Err(e) => errors.push(FieldError::new(field, e)),
            }
        }
    }
    headers
}

/// The limits that span keys: `Received` lines (any case) and `Auto-Submitted` (once).
fn check_counts(raw: &BTreeMap<String, HeaderValues>, errors: &mut Vec<FieldError>) {
    let lines = |wanted: &str| -> (usize, Option<&String>) {
        let keys = raw.iter().filter(|(n, _)| n.eq_ignore_ascii_case(wanted));
        let first = keys.clone().next().map(|(n, _)| n);
        (keys.map(|(_, v)| v.as_slice().len()).sum(), first)
    };
    if let (received, Some(name)) = lines("received")
        && received > MAX_RECEIVED
    {
        errors.push(FieldError::new(
            format!("headers.{name}"),
            format!(
                "{received} Received headers, more than {MAX_RECEIVED}: the message is looping"
            ),
        ));
    }
    if let (count, Some(name)) = lines("auto-submitted")
        && count > 1
    {
        errors.push(FieldError::new(
            format!("headers.{name}"),
            "may be given only once (RFC 3834 §5)",
        ));
    }
    let total: usize = raw.values().map(|v| v.as_slice().len()).sum();
    if total > MAX_HEADER_LINES {
        errors.push(FieldError::new(
            "headers",
            format!("at most {MAX_HEADER_LINES} header lines in all (got {total})"),
        ));
    }
}

/// RFC 3834 §5: `auto-submitted *( ";" parameter )`, where the keyword is `no`,
/// `auto-generated` or `auto-replied` (RFC 3834) or `auto-notified` (RFC 5436), in
/// any case, and each parameter is `attribute=value` with a token or quoted-string
/// value (RFC 2045). Comments are not accepted: nobody writes them here, and refusing
/// them keeps the value one that every receiver parses the same way.
fn check_auto_submitted(value: &str) -> Result<(), &'static str> {
    const BAD: &str = "must be no, auto-generated, auto-replied or auto-notified, \
                       optionally followed by ; name=value parameters (RFC 3834)";
    let mut parts = split_parameters(value).ok_or(BAD)?.into_iter();
    let keyword = parts.next().unwrap_or_default().trim();
    if !["no", "auto-generated", "auto-replied", "auto-notified"]
        .iter()
        .any(|k| k.eq_ignore_ascii_case(keyword))
    {
        return Err(BAD);
    }
    for parameter in parts {
        let (attribute, value) = parameter.split_once('=').ok_or(BAD)?;
        let (attribute, value) = (attribute.trim(), value.trim());
        if !is_token(attribute) || !(is_token(value) || is_quoted_string(value)) {
            return Err(BAD);
        }
    }
    Ok(())
}

/// Splits at `;` outside quoted strings; `None` for an unterminated quote.
fn split_parameters(value: &str) -> Option<Vec<&str>> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ';' if !quoted => {
                parts.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if quoted {
        return None;
    }
    parts.push(&value[start..]);
    Some(parts)
}

/// RFC 2045 `token`: printable ASCII without spaces and `tspecials`.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?=".contains(&b))
}

fn is_quoted_string(s: &str) -> bool {
    s.len() >= 2 && s.starts_with('"') && s.ends_with('"')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(raw: &[(&str, HeaderValues)]) -> (Vec<(HeaderName, HeaderValue)>, Vec<FieldError>) {
        let raw: BTreeMap<String, HeaderValues> = raw
            .iter()
            .map(|(n, v)| ((*n).to_owned(), v.clone()))
            .collect();
        let mut errors = Vec::new();
        let headers = validate_headers(&raw, &mut errors);
        (headers, errors)
    }

    fn many(n: usize) -> HeaderValues {
        HeaderValues::Many((0..n).map(|i| format!("from hop{i} by mx")).collect())
    }

    fn fields(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn repeated_headers_keep_their_order() {
        let (headers, errors) = run(&[("Received", many(3)), ("X-One", "1".into())]);
        assert!(errors.is_empty(), "{errors:?}");
        let lines: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            lines,
            [
                ("Received", "from hop0 by mx"),
                ("Received", "from hop1 by mx"),
                ("Received", "from hop2 by mx"),
                ("X-One", "1")
            ]
        );
    }

    #[test]
    fn more_than_25_received_lines_are_a_loop_whatever_their_case() {
        let (_, errors) = run(&[("Received", many(30))]);
        assert_eq!(fields(&errors), ["headers.Received"]);
        assert!(errors[0].message.contains("looping"), "{errors:?}");
        // 20 + 6 across two spellings of the same name.
        let (_, errors) = run(&[("Received", many(20)), ("received", many(6))]);
        assert_eq!(fields(&errors), ["headers.Received"]);
        let (_, errors) = run(&[("Received", many(25))]);
        assert!(errors.is_empty(), "{errors:?}");
    }

    #[test]
    fn each_bad_value_of_an_array_is_named() {
        let values = HeaderValues::Many(vec!["ok".into(), "bad\r\nBcc: x@y.test".into()]);
        let (_, errors) = run(&[("X-List", values), ("X-Empty", HeaderValues::Many(vec![]))]);
        assert_eq!(fields(&errors), ["headers.X-Empty", "headers.X-List[1]"]);
        let (_, errors) = run(&[("X-Many", many(101))]);
        assert_eq!(fields(&errors), ["headers"]);
    }

    #[test]
    fn auto_submitted_follows_rfc_3834() {
        for good in [
            "no",
            "auto-generated",
            "Auto-Replied",
            "auto-notified",
            "auto-replied; owner-email=\"me@example.com\"",
            "auto-generated ; reason=digest; x=\"a;b\"",
        ] {
            let (headers, errors) = run(&[("Auto-Submitted", good.into())]);
            assert!(errors.is_empty(), "{good}: {errors:?}");
            assert_eq!(headers.len(), 1);
        }
        for bad in [
            "",
            "yes",
            "auto generated",
            "auto-generated;",
            "auto-generated; reason",
            "auto-generated; x=\"open",
            "auto-generated (comment)",
        ] {
            let (_, errors) = run(&[("auto-submitted", bad.into())]);
            assert_eq!(fields(&errors), ["headers.auto-submitted"], "{bad}");
        }
        let (_, errors) = run(&[
            ("Auto-Submitted", "no".into()),
            ("auto-submitted", "no".into()),
        ]);
        assert_eq!(fields(&errors), ["headers.Auto-Submitted"]);
    }
}
