//! Hooks that decide how the sink answers: tests script failures with them,
//! and the inbound listener hands messages to storage through them.

use std::future::Future;
use std::pin::Pin;

use crate::{Peer, ReceivedMessage, Reply};

/// What [`SinkBehavior::deliver`] returns: a boxed future, because the trait
/// must stay object-safe (the sink holds an `Arc<dyn SinkBehavior>`). It may
/// borrow the behavior, peer and message, so a handler can write the body
/// somewhere without copying it first.
pub type DeliverFuture<'a> = Pin<Box<dyn Future<Output = Reply> + Send + 'a>>;

/// What [`SinkBehavior::authenticate`] returns: the principal the credentials
/// stand for, or the refusal to send (`535 5.7.8`, or `454 4.7.0` when the check
/// itself failed).
pub type AuthFuture<'a> = Pin<Box<dyn Future<Output = Result<String, Reply>> + Send + 'a>>;

/// Decides the sink's answers at each protocol step. Integration tests
/// implement it (or use [`CueByLocalPart`]) to simulate remote MTAs that
/// refuse, defer, throttle or hang; the inbound listener implements
/// [`Self::deliver`] to persist what it receives. Every method has an
/// accepting default.
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

    /// The asynchronous form of [`Self::mail_from`], which the session calls: a
    /// listener that must look something up (the submission listener checks the
    /// sender's domain in Redis) overrides this one. The default calls
    /// [`Self::mail_from`].
    fn sender<'a>(&'a self, peer: &'a Peer, from: &'a str) -> DeliverFuture<'a> {
        Box::pin(std::future::ready(self.mail_from(peer, from)))
    }

    /// Whether this listener takes `AUTH` and requires it before `MAIL` (the
    /// submission listener). AUTH is advertised and accepted only over TLS, or
    /// from loopback (see [`crate::SinkConfig::loopback_clear_text_auth`]).
    fn requires_auth(&self) -> bool {
        false
    }

    /// Checks the credentials of `AUTH PLAIN` or `AUTH LOGIN` (`user` is the
    /// authentication identity; the password is given as sent). Only called
    /// when [`Self::requires_auth`]; the default refuses everyone.
    fn authenticate<'a>(
        &'a self,
        _peer: &'a Peer,
        _user: &'a str,
        _password: &'a str,
    ) -> AuthFuture<'a> {
        Box::pin(std::future::ready(Err(Reply::new(
            535,
            "5.7.8 Authentication credentials invalid",
        ))))
    }

    /// Reply to a syntactically valid `RCPT TO`; only 2xx-accepted recipients
    /// end up in [`ReceivedMessage::rcpt_to`].
    fn rcpt_to(&self, _peer: &Peer, _rcpt: &str) -> Reply {
        Reply::ok()
    }

    /// Reply after the message body was received in full. Only a 2xx reply
    /// counts, stores and writes the message. Only called by the default
    /// [`Self::deliver`]; for a quick, synchronous decision.
    fn data_end(&self, _peer: &Peer, msg: &ReceivedMessage) -> Reply {
        Reply::new(250, format!("2.0.0 Ok: queued as {}", msg.id))
    }

    /// Hands over a fully received message and decides the end-of-data
    /// reply, asynchronously: a listener persists the message here and
    /// answers 2xx only once it is safely stored (RFC 5321 section 6.1: a 250
    /// takes responsibility for the message), or `451 4.3.0` if storing
    /// failed, so the sending MTA retries instead of the message being lost.
    ///
    /// The session awaits the future before reading the client's next
    /// command; other connections are served meanwhile, as each runs in its
    /// own task. Only a 2xx reply counts, stores and writes the message. The
    /// sink puts no deadline on the future (bound your own I/O; the client
    /// gives up after 10 minutes, RFC 5321 section 4.5.3.2.6); it is dropped
    /// if the sink shuts down. The default calls [`Self::data_end`].
    fn deliver<'a>(&'a self, peer: &'a Peer, msg: &'a ReceivedMessage) -> DeliverFuture<'a> {
        Box::pin(std::future::ready(self.data_end(peer, msg)))
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
