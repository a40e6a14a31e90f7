//! The query parameters every cursor-paged listing takes (`cursor`, `limit`), checked
//! the same way everywhere: a bad one is a 422 entry naming it, collected with the
//! listing's other field errors.

use sluice_model::FieldError;

pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;

/// `cursor`, parsed by `parse` (the listing's own cursor form), or a field error. An
/// empty `cursor=` is the first page, as if absent (clients and generated SDKs send
/// empty parameters).
pub fn cursor<'a, C>(
    text: Option<&'a str>,
    parse: impl FnOnce(&'a str) -> Option<C>,
    errors: &mut Vec<FieldError>,
) -> Option<C> {
    let cursor = parse(text.filter(|t| !t.is_empty())?);
    if cursor.is_none() {
        errors.push(FieldError::new(
            "cursor",
            "is not a cursor from a previous page",
        ));
    }
    cursor
}

/// `limit`: 1 to [`MAX_LIMIT`], [`DEFAULT_LIMIT`] when absent.
pub fn limit(text: Option<&str>, errors: &mut Vec<FieldError>) -> usize {
    match text {
        None => DEFAULT_LIMIT,
        Some(text) => match text.parse::<usize>() {
            Ok(limit) if (1..=MAX_LIMIT).contains(&limit) => limit,
            _ => {
                errors.push(FieldError::new(
                    "limit",
                    format!("must be a whole number from 1 to {MAX_LIMIT}"),
                ));
                DEFAULT_LIMIT
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_cursor_is_the_first_page_and_a_bad_one_an_error() {
        let mut errors = Vec::new();
        let parse = |t: &str| t.strip_prefix("c").map(str::to_string);
        assert_eq!(cursor(Some(""), parse, &mut errors), None);
        assert_eq!(cursor(None, parse, &mut errors), None);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(cursor(Some("c42"), parse, &mut errors), Some("42".into()));
        assert_eq!(cursor(Some("x"), parse, &mut errors), None);
        assert_eq!(errors.len(), 1);
    }
}
