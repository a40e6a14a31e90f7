//! Wire formats of delivery events, kept free of I/O so they can be tested with bytes
//! alone and shared by the API, the delivery workers and the bounce receiver:
//!
//! - [`signing`]: Standard Webhooks signatures on the webhooks we send, with several
//!   secrets at once so endpoints can rotate without dropping deliveries.
//! - [`verp`]: the per-recipient return path (`bounces+<token>@<bounce domain>`) that
//!   lets a bounce or complaint name its message and recipient, authenticated by a MAC;
//!   [`unsubscribe`] tokens carry the same token with a longer MAC (one codec for
//!   both, `token`).
//! - [`dsn`] and [`arf`]: parsers for what comes back to that return path — delivery
//!   status notifications (RFC 3464, plus a heuristic for prose bounces) and abuse
//!   feedback reports (RFC 5965); [`inbound`] tells the two apart.
//! - [`classify`](mod@classify): turns an SMTP reply or DSN status into a bounce type
//!   and class that senders can act on (suppress, retry, fix reputation).
//!
//! The parsers take untrusted bytes from the internet: they never panic, whatever the
//! input, answer with a typed error when it is not the report they read, and take time
//! linear in a bounded prefix of it ([`limits`]).

pub mod arf;
mod auto_reply;
pub mod classify;
pub mod dsn;
pub mod fields;
pub mod inbound;
pub mod limits;
mod mime;
pub mod signing;
mod token;
pub mod unsubscribe;
pub mod verp;

pub use arf::{ArfError, ArfReport, FeedbackType, parse_arf};
pub use classify::{BounceClass, BounceType, classify, classify_reply};
pub use dsn::{DsnAction, DsnError, DsnFormat, DsnRecipient, DsnReport, parse_dsn};
pub use inbound::{InboundError, InboundReport, parse_inbound};
pub use signing::{SecretError, VerifyError, WebhookSecret, sign, signature_header, verify};
pub use unsubscribe::UnsubscribeCodec;
pub use verp::{VerpCodec, VerpToken};
