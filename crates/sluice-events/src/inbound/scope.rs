//! Whom a report may affect. A bounce or complaint suppresses an address and tells the
//! tenant it bounced, so a report must not reach anyone its VERP token does not vouch
//! for — and the report's own text is no voucher: anyone who received a message holds
//! its return path and can write a DSN or ARF report naming whomever they like.
//!
//! The token (authenticated by its MAC) names one message and either one recipient or
//! "several" (a transaction to more than one recipient, see the worker's
//! `return_path`). The rule:
//!
//! - **One recipient**: that recipient is the only one affected, whatever addresses
//!   the report names. A report naming someone else is either forged or about a
//!   forwarded or aliased address (the remote MTA rewrote the recipient); in both cases
//!   the token's recipient is the one Sluice sent that copy to. Of a DSN's blocks, the
//!   one naming that recipient decides (a success action there records nothing);
//!   without one, the first `failed` block, else the first `delayed` one.
//! - **Several recipients**: only addresses that the report names *and* that are
//!   recipients of that message (checked atomically when the event is recorded), each
//!   at most once. An ARF report's `To:` header is not used: every copy of the message
//!   carries the same one, so it does not say whose copy was reported.
//!
//! What remains possible with a "several" token: a recipient of a multi-recipient
//! message can name a co-recipient of the *same* message in a forged report. Closing
//! that needs a token per transaction naming its recipients, which is the delivery
//! worker's choice of return path (bulk mail already gets one per recipient).

use sluice_wire::{ArfReport, DsnAction, DsnRecipient};

/// What the token lets a report affect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Scope {
    /// The one recipient the token names (its address, from the message record).
    One(String),
    /// Any recipient of the message that the report itself names.
    Several,
}

/// One DSN block to record, and the addresses to try for it in order (the first that
/// is a recipient of the message is the one recorded).
pub(crate) type DsnTarget<'a> = (&'a DsnRecipient, Vec<String>);

/// The DSN blocks to record under `scope`, each with its candidate addresses.
pub(crate) fn dsn_targets<'a>(recipients: &'a [DsnRecipient], scope: &Scope) -> Vec<DsnTarget<'a>> {
    match scope {
        Scope::One(address) => {
            let named = recipients
                .iter()
                .find(|r| names(r).iter().any(|n| n.eq_ignore_ascii_case(address)));
            let chosen = named
                .or_else(|| recipients.iter().find(|r| r.action == DsnAction::Failed))
                .or_else(|| recipients.iter().find(|r| r.action == DsnAction::Delayed));
            chosen
                .map(|r| (r, vec![address.clone()]))
                .into_iter()
                .collect()
        }
        Scope::Several => recipients
            .iter()
            .map(|r| (r, names(r)))
            .filter(|(_, names)| !names.is_empty())
            .collect(),
    }
}

/// The addresses a complaint may be recorded for under `scope`.
pub(crate) fn arf_targets(report: &ArfReport, scope: &Scope) -> Vec<String> {
    match scope {
        Scope::One(address) => vec![address.clone()],
        Scope::Several => {
            let mut out: Vec<String> = Vec::new();
            for address in report.original_rcpt_to.iter().map(|a| bare_address(a)) {
                if !address.is_empty() && !out.iter().any(|o| o.eq_ignore_ascii_case(&address)) {
                    out.push(address);
                }
            }
            out
        }
    }
}

/// The addresses a DSN block names: `Final-Recipient`, then a different
/// `Original-Recipient` (the address before forwarding).
fn names(recipient: &DsnRecipient) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for address in [&recipient.final_recipient, &recipient.original_recipient]
        .into_iter()
        .flatten()
        .map(|a| bare_address(a))
    {
        if !address.is_empty() && !out.iter().any(|o| o.eq_ignore_ascii_case(&address)) {
            out.push(address);
        }
    }
    out
}

/// `Jane <jane@example.com>` or `<jane@example.com>` → `jane@example.com`.
pub(crate) fn bare_address(text: &str) -> String {
    let text = text.trim();
    let inner = match (text.rfind('<'), text.rfind('>')) {
        (Some(open), Some(close)) if open < close => &text[open + 1..close],
        _ => text,
    };
    inner.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(address: &str, action: DsnAction) -> DsnRecipient {
        DsnRecipient {
            final_recipient: Some(address.to_string()),
            action,
            ..DsnRecipient::default()
        }
    }

    fn addresses(targets: &[DsnTarget<'_>]) -> Vec<(Option<String>, Vec<String>)> {
        targets
            .iter()
            .map(|(r, to)| (r.final_recipient.clone(), to.clone()))
            .collect()
    }

    #[test]
    fn a_single_recipient_token_affects_only_that_recipient() {
        let one = Scope::One("ann@example.com".into());
        // A forged report naming a co-recipient lands on the token's recipient.
        let forged = [block("bob@example.com", DsnAction::Failed)];
        assert_eq!(
            addresses(&dsn_targets(&forged, &one)),
            [(
                Some("bob@example.com".into()),
                vec!["ann@example.com".into()]
            )]
        );
        // The block naming the recipient decides, even when others failed.
        let mixed = [
            block("bob@example.com", DsnAction::Failed),
            block("ANN@example.com", DsnAction::Delivered),
        ];
        let targets = dsn_targets(&mixed, &one);
        assert_eq!(targets.len(), 1);
        assert_eq!(targets[0].0.action, DsnAction::Delivered);
        // Failed before delayed; nothing actionable, nothing at all.
        let both = [
            block("x@example.net", DsnAction::Delayed),
            block("y@example.net", DsnAction::Failed),
        ];
        assert_eq!(dsn_targets(&both, &one)[0].0.action, DsnAction::Failed);
        assert!(dsn_targets(&[], &one).is_empty());
    }

    #[test]
    fn a_several_recipient_token_takes_the_names_in_the_report() {
        let forwarded = DsnRecipient {
            final_recipient: Some("new@forwarded.example".into()),
            original_recipient: Some("<joe@example.org>".into()),
            action: DsnAction::Failed,
            ..DsnRecipient::default()
        };
        let anonymous = DsnRecipient {
            action: DsnAction::Failed,
            ..DsnRecipient::default()
        };
        let blocks = [
            block("jane@example.org", DsnAction::Failed),
            forwarded,
            anonymous,
        ];
        let candidates: Vec<Vec<String>> = dsn_targets(&blocks, &Scope::Several)
            .into_iter()
            .map(|(_, to)| to)
            .collect();
        assert_eq!(
            candidates,
            [
                vec!["jane@example.org".to_string()],
                vec!["new@forwarded.example".into(), "joe@example.org".into()],
            ]
        );
    }

    #[test]
    fn complaints_use_the_envelope_recipients_only() {
        let report = ArfReport {
            feedback_type: sluice_wire::FeedbackType::Abuse,
            user_agent: None,
            version: None,
            original_mail_from: None,
            original_rcpt_to: vec!["<a@example.org>".into(), "A@example.org".into()],
            arrival_date: None,
            reporting_mta: None,
            source_ip: None,
            reported_domains: Vec::new(),
            original_headers: Some("To: a@example.org, b@example.org\n".into()),
        };
        assert_eq!(arf_targets(&report, &Scope::Several), ["a@example.org"]);
        let one = Scope::One("b@example.org".into());
        assert_eq!(arf_targets(&report, &one), ["b@example.org"]);
        let redacted = ArfReport {
            original_rcpt_to: Vec::new(),
            ..report
        };
        assert!(arf_targets(&redacted, &Scope::Several).is_empty());
    }

    #[test]
    fn addresses_lose_their_display_names() {
        assert_eq!(bare_address("Jane <jane@example.com>"), "jane@example.com");
        assert_eq!(bare_address(" <jane@example.com> "), "jane@example.com");
        assert_eq!(bare_address("jane@example.com"), "jane@example.com");
    }
}
