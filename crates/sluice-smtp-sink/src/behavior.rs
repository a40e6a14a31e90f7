//! Hooks that decide how the sink answers, so tests can inject failures.

use crate::{Peer, ReceivedMessage, Reply};

/// Decides the sink's answers at each protocol step. Integration tests
/// implement it (or use [`CueByLocalPart`]) to simulate remote MTAs that
/// refuse, defer, throttle or hang; every method has an accepting default.
pub trait SinkBehavior: Send + Sync + 'static {
    /// Reply to a new connection. For 220 the sink prefixes its hostname, as
    /// RFC 5321 requires. [`Reply::hang`] accepts TCP and never says anything
    /// (for connect/greeting timeout tests); a 421 closes the connection; any
    /// other refusal makes the sink answer 503 to everything but QUIT.
    fn greeting(&self, _peer: &Peer) -> Reply {
        Reply::new(220, "ESMTP sluice-sink")
    }

    /// Reply to a syntactically valid `MAIL FROM` (`from` is `""` for the
    /// null sender). A non-2xx reply leaves no transaction open.
    fn mail_from(&self, _peer: &Peer, _from: &str) -> Reply {
        Reply::ok()
    }

    /// Reply to a syntactically valid `RCPT TO`; only 2xx-accepted recipients
    /// end up in [`ReceivedMessage::rcpt_to`].
    fn rcpt_to(&self, _peer: &Peer, _rcpt: &str) -> Reply {
        Reply::ok()
    }

    /// Reply after the message body was received in full. Only a 2xx reply
    /// counts, stores and writes the message.
    fn data_end(&self, _peer: &Peer, msg: &ReceivedMessage) -> Reply {
        Reply::new(250, format!("2.0.0 Ok: queued as {}", msg.id))
    }
}

/// Accepts everything: the plain capture/counting sink.
#[derive(Clone, Copy, Debug, Default)]
pub struct AcceptAll;

impl SinkBehavior for AcceptAll {}

/// Scripts per-recipient failures from the recipient's local part, so tests
/// can provoke them without writing code. Matching is case-insensitive on the
/// start of the local part (`bounce42@x` matches `bounce`):
///
/// | local part starts with | reply |
/// |---|---|
/// | `bounce`   | `550 5.1.1` (permanent, user unknown) |
/// | `defer`    | `451 4.7.1` (temporary) |
/// | `throttle` | `421 4.7.0`, then the connection is closed |
/// | `full`     | `552 5.2.2` (mailbox full) |
/// | `hang`     | no reply at all, connection stays open |
///
/// Everything else is accepted, so one transaction can mix outcomes.
#[derive(Clone, Copy, Debug, Default)]
pub struct CueByLocalPart;

impl SinkBehavior for CueByLocalPart {
    fn rcpt_to(&self, _peer: &Peer, rcpt: &str) -> Reply {
        let local = rcpt.rsplit_once('@').map_or(rcpt, |(l, _)| l);
        let local = local.to_ascii_lowercase();
        if local.starts_with("bounce") {
            Reply::new(550, "5.1.1 Mailbox unavailable: no such user")
        } else if local.starts_with("defer") {
            Reply::new(451, "4.7.1 Try again later")
        } else if local.starts_with("throttle") {
            Reply::closing(421, "4.7.0 Too many messages, closing connection")
        } else if local.starts_with("full") {
            Reply::new(552, "5.2.2 Mailbox full")
        } else if local.starts_with("hang") {
            Reply::hang()
        } else {
            Reply::ok()
        }
    }
}
