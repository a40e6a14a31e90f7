//! The query parameters every cursor-paged listing takes (`cursor`, `limit`), checked
//! the same way everywhere: a bad one is a 422 entry naming it, collected with the
//! listing's other field errors.

use sluice_model::FieldError;

pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;

/// `cursor`, parsed by `parse` (the listing's own cursor form), or a field error.
pub fn cursor<'a, C>(
    text: Option<&'a str>,
    parse: impl FnOnce(&'a str) -> Option<C>,
    errors: &mut Vec<FieldError>,
) -> Option<C> {
    let cursor = parse(text?);
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
