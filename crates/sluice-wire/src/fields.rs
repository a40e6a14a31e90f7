//! Header-like field blocks (`Name: value`, folded continuation lines, blank-line
//! separated groups), as used by RFC 3464 delivery-status bodies, RFC 5965 feedback
//! reports and the returned headers of an original message.
//!
//! We parse these ourselves instead of through a MIME parser because a report body is
//! not a message: a delivery-status body is *several* header blocks in a row, and the
//! fields we care about must survive sloppy generators (bare LF, stray whitespace,
//! missing blank lines). Everything here is total: any input gives some answer, and
//! linear: one pass over the text, with field values and header sections capped (see
//! [`crate::limits`]) so no later step works on more than those caps.

use crate::limits::{self, MAX_FIELD_VALUE, MAX_HEADER_SECTION};

/// One field, name as written and value unfolded to a single line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub value: String,
}

impl Field {
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }
}

/// Splits `text` into blank-line separated blocks of fields. Empty blocks are dropped;
/// lines that are neither a field nor a continuation are ignored. A value stops growing
/// at [`MAX_FIELD_VALUE`] bytes.
pub fn blocks(text: &str) -> Vec<Vec<Field>> {
    let mut blocks = Vec::new();
    let mut current: Vec<Field> = Vec::new();
    for line in text.lines() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            if !current.is_empty() {
                blocks.push(std::mem::take(&mut current));
            }
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if let Some(field) = current.last_mut() {
                let more = line.trim();
                if !field.value.is_empty() && field.value.len() < MAX_FIELD_VALUE {
                    field.value.push(' ');
                }
                let room = MAX_FIELD_VALUE.saturating_sub(field.value.len());
                field.value.push_str(limits::truncate(more, room));
            }
            continue;
        }
        if let Some(field) = parse_field(line) {
            current.push(field);
        }
    }
    if !current.is_empty() {
        blocks.push(current);
    }
    blocks
}

/// `Name: value`, where the name is printable ASCII without spaces (RFC 5322 ftext).
/// That rule is what keeps an mbox `From ` line or prose from becoming a field.
fn parse_field(line: &str) -> Option<Field> {
    let (name, value) = line.split_once(':')?;
    let name = name.trim_end();
    let valid = !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic());
    valid.then(|| Field {
        name: name.to_string(),
        value: limits::truncate(value.trim(), MAX_FIELD_VALUE).to_string(),
    })
}

/// The header section of a message: everything before the first blank line, with line
/// endings normalised to `\n` so callers and golden files see one form. Lines are cut
/// at [`MAX_FIELD_VALUE`] bytes and the section at [`MAX_HEADER_SECTION`].
pub fn header_section(message: &str) -> String {
    let mut out = String::new();
    for line in message.lines() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            if out.is_empty() {
                continue; // tolerate blank lines before the headers
            }
            break;
        }
        let room = MAX_HEADER_SECTION.saturating_sub(out.len() + 1);
        let line = limits::truncate(line, MAX_FIELD_VALUE.min(room));
        if line.is_empty() {
            break;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Every value of header `name` in a header section, unfolded, in order.
pub fn header_values(headers: &str, name: &str) -> Vec<String> {
    blocks(&header_section(headers))
        .into_iter()
        .next()
        .unwrap_or_default()
        .into_iter()
        .filter(|field| field.is(name))
        .map(|field| field.value)
        .collect()
}

/// The first value of header `name` (`Message-ID`, `To`, `Return-Path`, …).
pub fn header_value(headers: &str, name: &str) -> Option<String> {
    header_values(headers, name).into_iter().next()
}

/// The value after an RFC 3464 type prefix: `rfc822; <a@b>` → `a@b`, `dns; mx.example`
/// → `mx.example`. Values without a type are kept whole rather than dropped.
pub fn strip_type(value: &str) -> String {
    let value = value.split_once(';').map_or(value, |(_, rest)| rest).trim();
    let value = value.strip_prefix('<').unwrap_or(value);
    value.strip_suffix('>').unwrap_or(value).trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_blocks_and_unfolds() {
        let text = "\r\nReporting-MTA: dns; mx.example.net\r\n\r\n\r\nFinal-Recipient: rfc822; a@example.org\r\n\
                    Diagnostic-Code: smtp; 550 5.1.1 first\r\n    second line\r\nnot a field\r\n";
        let blocks = blocks(text);
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0][0].name, "Reporting-MTA");
        assert!(blocks[1][1].is("diagnostic-code"));
        assert_eq!(blocks[1][1].value, "smtp; 550 5.1.1 first second line");
    }

    #[test]
    fn reads_headers_from_the_header_section_only() {
        let message = "From MAILER-DAEMON Tue Jun 11 08:43:20 2024\nMessage-ID: <a@example.com>\n\
                       To: one@example.org,\n two@example.org\nto: late@example.org\n\nTo: body@example.org\n";
        assert_eq!(
            header_value(message, "message-id").as_deref(),
            Some("<a@example.com>")
        );
        assert_eq!(
            header_values(message, "To"),
            ["one@example.org, two@example.org", "late@example.org"]
        );
        assert_eq!(header_value(message, "From"), None);
    }

    #[test]
    fn strips_address_types() {
        assert_eq!(strip_type("rfc822; <a@example.org>"), "a@example.org");
        assert_eq!(strip_type("RFC822;b@example.org"), "b@example.org");
        assert_eq!(strip_type("c@example.org"), "c@example.org");
    }
}
