//! Automatic replies (RFC 3834): out-of-office and vacation notices. Responders answer
//! the envelope sender, which for our mail is the VERP bounce address, so they arrive at
//! the bounce listener — but they say nothing about deliverability. Treating one as a
//! bounce would suppress a reader for going on holiday.
//!
//! Recognised by the headers responders set: `Auto-Submitted` with any value but `no`
//! (RFC 3834 section 5), and the older vendor markers `X-Autoreply`, `X-Autorespond`,
//! `X-Autoresponder` and `Precedence: auto_reply`. Delivery reports carry
//! `Auto-Submitted` too (Postfix, Exim), so callers ask this only of mail that is not
//! a report: see [`crate::parse_inbound`].

use crate::fields::Field;

/// Headers whose mere presence marks a vacation responder's reply.
const MARKERS: &[&str] = &["X-Autoreply", "X-Autorespond", "X-Autoresponder"];

/// True when the header fields mark the message as an automatic reply.
pub(crate) fn is_auto_reply(headers: &[Field]) -> bool {
    headers.iter().any(|field| {
        if field.is("Auto-Submitted") {
            // `no` (or an empty value) is a human's message; every other keyword,
            // `auto-replied`, `auto-generated` or an extension, is automatic.
            let keyword = field
                .value
                .split([';', ' ', '('])
                .next()
                .unwrap_or_default();
            !(keyword.is_empty() || keyword.eq_ignore_ascii_case("no"))
        } else if field.is("Precedence") {
            field.value.trim().eq_ignore_ascii_case("auto_reply")
        } else {
            MARKERS.iter().any(|name| field.is(name))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::blocks;

    fn auto(headers: &str) -> bool {
        is_auto_reply(&blocks(headers).into_iter().next().unwrap_or_default())
    }

    #[test]
    fn recognises_responders() {
        assert!(auto(
            "Auto-Submitted: auto-replied\nSubject: Out of office\n"
        ));
        assert!(auto("auto-submitted: Auto-Replied (vacation)\n"));
        assert!(auto("Auto-Submitted: auto-generated\n"));
        assert!(auto("X-Autoreply: yes\n"));
        assert!(auto("X-Autorespond: Out of office\n"));
        assert!(auto("Precedence: auto_reply\n"));
    }

    #[test]
    fn ignores_people_and_lists() {
        assert!(!auto("Auto-Submitted: no\nSubject: hi\n"));
        assert!(!auto("Auto-Submitted:\n"));
        assert!(!auto("Precedence: bulk\nSubject: newsletter\n"));
        assert!(!auto("Subject: Re: your order\n"));
    }
}
