//! SMTP submission (RFC 6409; implicit TLS per RFC 8314): printers, monitoring
//! systems and applications that can only speak SMTP send through Sluice as if
//! they called `POST /v1/messages` — the same checks, quotas, queue, DKIM signing,
//! events and webhooks; there is no second path.
//!
//! The protocol is `sluice-smtp-server`'s (STARTTLS or implicit TLS, AUTH, the
//! connection caps and timeouts of the inbound listener); this crate is the
//! [`SinkBehavior`] that decides:
//!
//! | step | check | refusal |
//! |---|---|---|
//! | AUTH PLAIN / LOGIN | the password is an API key with the `send` scope (any user name) | `535 5.7.8`; `454 4.7.0` if Redis cannot say |
//! | MAIL | authenticated, and the sender's domain is one of the tenant's (verified, when `domains.require_verified`) | `530 5.7.0`; `553 5.7.1` |
//! | RCPT | a valid address | `553 5.1.3` |
//! | DATA | size (`552 5.3.4`, by the server), one `From` on the tenant's domains, the `X-Sluice-*` directives (see `message`) | `553 5.7.1`, `554 5.6.0` |
//! | accept | quotas, Idempotency-Key, stored in Redis | `451 4.7.1` (rate) / `452 4.5.3` (daily) with the wait; `451 4.3.0` when Redis fails |
//!
//! `250 2.0.0 Ok: queued as msg_…` is sent only once the message is in Redis.
//! The message travels as the client wrote it ([`sluice_model::raw`]): `Bcc`
//! and the directives are removed here, `Date` and `Message-ID` are added by the
//! worker when missing, before signing.

mod accept;
mod message;
pub mod tls;

use sluice_model::{EmailAddress, TenantQuotas};
use sluice_smtp_server::{AuthFuture, DeliverFuture, Peer, ReceivedMessage, Reply, SinkBehavior};
use sluice_store::Store;

/// What the submission listener checks against, taken from the configuration the
/// API uses, so both refuse the same things.
#[derive(Clone, Debug)]
pub struct SubmissionSettings {
    /// Every tenant's quotas unless it has its own.
    pub quotas: TenantQuotas,
    /// Whether the sender's domain must be verified (`domains.require_verified`).
    pub require_verified: bool,
}

/// The submission listener's behavior (see the module doc).
pub struct Submission {
    store: Store,
    settings: SubmissionSettings,
}

impl Submission {
    pub fn new(store: Store, settings: SubmissionSettings) -> Self {
        Self { store, settings }
    }
}

impl SinkBehavior for Submission {
    fn greeting(&self, _peer: &Peer) -> Reply {
        Reply::new(220, "ESMTP Sluice submission")
    }

    fn requires_auth(&self) -> bool {
        true
    }

    fn authenticate<'a>(
        &'a self,
        _peer: &'a Peer,
        _user: &'a str,
        password: &'a str,
    ) -> AuthFuture<'a> {
        Box::pin(self.check_key(password))
    }

    fn sender<'a>(&'a self, peer: &'a Peer, from: &'a str) -> DeliverFuture<'a> {
        Box::pin(self.check_sender(peer, from))
    }

    fn rcpt_to(&self, _peer: &Peer, rcpt: &str) -> Reply {
        match EmailAddress::parse(rcpt) {
            Ok(_) => Reply::ok(),
            Err(e) => Reply::new(553, format!("5.1.3 Bad recipient address: {e}")),
        }
    }

    fn deliver<'a>(&'a self, peer: &'a Peer, msg: &'a ReceivedMessage) -> DeliverFuture<'a> {
        Box::pin(self.accept(peer, msg))
    }
}
