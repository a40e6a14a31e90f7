//! How much of a report the parsers read. Reports arrive from anyone on the internet,
//! so every parser stops at a fixed amount of text, and each step after that is linear
//! in what it reads: a hostile message costs at most a few milliseconds of CPU however
//! large it is (the listener caps the whole message at its own size limit).
//!
//! The caps are far above what real reports need: a DSN's delivery-status part is a
//! few hundred bytes per recipient, a returned header section a few kilobytes, and no
//! message Sluice sends has more than 50 recipients.

/// Bytes of a returned original (`message/rfc822`, `text/rfc822-headers`) examined for
/// its header section, and the longest header section kept from any message.
pub const MAX_HEADER_SECTION: usize = 64 * 1024;
/// Bytes of a `message/delivery-status` or `message/feedback-report` part read.
pub const MAX_REPORT_PART: usize = 256 * 1024;
/// Bytes of a prose bounce's text searched for the notice and the returned headers.
pub const MAX_PROSE_BYTES: usize = 64 * 1024;
/// Longest field value kept, continuation lines included; the rest is dropped. Real
/// fields (a `Diagnostic-Code`, a `DKIM-Signature`) stay under 2 KiB.
pub const MAX_FIELD_VALUE: usize = 8 * 1024;
/// Per-recipient blocks read from one report; later ones are ignored.
pub const MAX_REPORT_RECIPIENTS: usize = 100;

/// The longest prefix of `text` of at most `max` bytes that ends on a char boundary.
pub(crate) fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::truncate;

    #[test]
    fn truncates_on_char_boundaries() {
        assert_eq!(truncate("héllo", 10), "héllo");
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("héllo", 3), "hé");
        assert_eq!(truncate("", 0), "");
    }
}
