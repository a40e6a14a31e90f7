//! The RCPT policy of an inbound listener that receives mail only for its own
//! domains, so that it can never be used as an open relay.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::{DeliverFuture, Peer, ReceivedMessage, Reply, SinkBehavior};

/// Local parts every mail domain must accept: `postmaster` (RFC 5321 section
/// 4.5.1) and `abuse` (RFC 2142), where people report problems with our mail.
const ROLE_ACCOUNTS: [&str; 2] = ["postmaster", "abuse"];

/// Wraps another behavior and accepts RCPT only for a fixed set of domains
/// and, on those, only local parts starting with a prefix (e.g. `bounces+`
/// for VERP addresses `bounces+<token>@bounce.example`) plus the role
/// accounts `postmaster` and `abuse`. Refusals:
///
/// - another domain: `550 5.7.1 Relaying denied`, since anything else would
///   make an internet-facing listener an open relay;
/// - a local part we do not serve: `550 5.1.1 No such user`.
///
/// Domains and the prefix compare ASCII case-insensitively (some MTAs change
/// the case of addresses); give internationalized domains in their ASCII
/// (`xn--`) form. A bare `<postmaster>` is accepted, as RFC 5321 requires.
/// Accepted recipients are then put to the inner behavior, which may still
/// refuse (e.g. an unknown VERP token); every other hook, including
/// [`SinkBehavior::deliver`], is the inner behavior's.
#[derive(Clone)]
pub struct RecipientDomains {
    /// Lowercase, without a trailing dot.
    domains: BTreeSet<String>,
    /// Lowercase.
    local_prefix: String,
    inner: Arc<dyn SinkBehavior>,
}

impl RecipientDomains {
    /// Serves `domains` for local parts starting with `local_prefix` (which
    /// must be followed by at least one character; an empty prefix accepts
    /// every local part) and the role accounts; `inner` decides the rest.
    pub fn new<I, S>(domains: I, local_prefix: &str, inner: Arc<dyn SinkBehavior>) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self {
            domains: domains.into_iter().map(|d| normalize(d.as_ref())).collect(),
            local_prefix: local_prefix.to_ascii_lowercase(),
            inner,
        }
    }

    /// The refusal for `rcpt`, or `None` if the policy lets it through.
    fn refusal(&self, rcpt: &str) -> Option<Reply> {
        let Some((local, domain)) = rcpt.rsplit_once('@') else {
            // The session only lets a bare `postmaster` through without '@'.
            return None;
        };
        if !self.domains.contains(&normalize(domain)) {
            return Some(Reply::new(550, "5.7.1 Relaying denied"));
        }
        let local = local.to_ascii_lowercase();
        let served = ROLE_ACCOUNTS.contains(&local.as_str())
            || (local.starts_with(&self.local_prefix) && local.len() > self.local_prefix.len());
        (!served).then(|| Reply::new(550, "5.1.1 No such user"))
    }
}

fn normalize(domain: &str) -> String {
    domain.trim_end_matches('.').to_ascii_lowercase()
}

impl std::fmt::Debug for RecipientDomains {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecipientDomains")
            .field("domains", &self.domains)
            .field("local_prefix", &self.local_prefix)
            .finish_non_exhaustive()
    }
}

impl SinkBehavior for RecipientDomains {
    fn greeting(&self, peer: &Peer) -> Reply {
        self.inner.greeting(peer)
    }

    fn mail_from(&self, peer: &Peer, from: &str) -> Reply {
        self.inner.mail_from(peer, from)
    }

    fn rcpt_to(&self, peer: &Peer, rcpt: &str) -> Reply {
        match self.refusal(rcpt) {
            Some(refusal) => refusal,
            None => self.inner.rcpt_to(peer, rcpt),
        }
    }

    fn data_end(&self, peer: &Peer, msg: &ReceivedMessage) -> Reply {
        self.inner.data_end(peer, msg)
    }

    fn deliver<'a>(&'a self, peer: &'a Peer, msg: &'a ReceivedMessage) -> DeliverFuture<'a> {
        self.inner.deliver(peer, msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AcceptAll;

    fn policy() -> RecipientDomains {
        RecipientDomains::new(
            ["Bounce.Example.", "b2.example"],
            "Bounces+",
            Arc::new(AcceptAll),
        )
    }

    fn code(rcpt: &str) -> u16 {
        policy().refusal(rcpt).map_or(250, |r| r.code)
    }

    fn text(rcpt: &str) -> String {
        policy().refusal(rcpt).map(|r| r.text).unwrap_or_default()
    }

    #[test]
    fn accepts_prefixed_and_role_accounts_on_own_domains() {
        assert_eq!(code("bounces+abc123@bounce.example"), 250);
        assert_eq!(code("BOUNCES+ABC@BOUNCE.EXAMPLE."), 250);
        assert_eq!(code("bounces+x@b2.example"), 250);
        assert_eq!(code("postmaster@bounce.example"), 250);
        assert_eq!(code("Abuse@Bounce.Example"), 250);
        assert_eq!(code("postmaster"), 250);
    }

    #[test]
    fn refuses_foreign_domains_as_relaying() {
        for rcpt in [
            "bounces+abc@other.example",
            "postmaster@other.example",
            "bounces+abc@sub.bounce.example",
            "bounces+abc@bounce.example@other.example",
        ] {
            assert_eq!(text(rcpt), "5.7.1 Relaying denied", "{rcpt}");
        }
    }

    #[test]
    fn refuses_unknown_local_parts() {
        for rcpt in [
            "someone@bounce.example",
            "bounces+@bounce.example",
            "bounces@bounce.example",
            "xbounces+abc@bounce.example",
        ] {
            assert_eq!(text(rcpt), "5.1.1 No such user", "{rcpt}");
        }
    }

    #[test]
    fn empty_prefix_serves_every_local_part() {
        let open = RecipientDomains::new(["d.example"], "", Arc::new(AcceptAll));
        assert!(open.refusal("anyone@d.example").is_none());
        assert!(open.refusal("anyone@e.example").is_some());
    }
}
