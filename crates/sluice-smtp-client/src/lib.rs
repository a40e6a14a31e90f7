//! The SMTP client protocol: connection, STARTTLS/TLS, AUTH, one mail transaction,
//! and the connection pool. It knows nothing of queues, tenants or DKIM; the
//! delivery worker (`sluice-delivery`) decides where and what to send, this crate
//! only speaks SMTP (like KumoMTA's `rfc5321`).
//!
//! Built on lettre's low-level `AsyncSmtpConnection`, not its transports,
//! because of three measured problems (see `DEPENDENCIES.md`): lettre never
//! sets TCP_NODELAY (~40 ms per message from Nagle plus delayed ACK), its
//! pooled transport cannot bind a source address (IP pools need that), and it
//! sends a NOOP before every reuse without really capping concurrency. Its
//! `send()` also stops at the first refused recipient, while we need a reply
//! for every one.
//!
//! - [`RelayTarget`] / [`TlsMode`]: where to connect and how (from a URL or routing),
//! - [`SmtpPool::send`]: one transaction on a pooled session, giving a
//!   [`TransactionOutcome`] with one [`sluice_model::SmtpReply`] per recipient,
//! - [`SmtpError`]: session-level failures, each transient or permanent,
//! - [`RelayTrust`]: the roots relay certificates are verified against.
//!
//! Credentials never travel without verified TLS: a relay URL with `user:pass@`
//! requires STARTTLS (or implicit TLS) with a certificate that verifies, and a
//! failure is a transient [`SmtpError::Tls`], never a plain-text AUTH. Only a
//! loopback relay may opt out (`tls=none` or `insecure=true`), see
//! [`RelayTarget::from_url`].
//!
//! Known limits: no PIPELINING (lettre has no API for it, so each command is a
//! round trip). Implicit TLS (`smtps://`) goes through lettre's own connect,
//! which binds the source address but cannot set TCP_NODELAY; UTF-8 bodies are
//! therefore sent in one write there (see `body`), other bodies pay the
//! ~40 ms Nagle stall per message.

mod body;
mod connect;
mod error;
mod pool;
mod stream;
mod target;
mod tls_failure;
mod transaction;
mod trust;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_pool;

pub use error::{CredentialsPolicyError, DecodeError, SmtpError, UrlError};
pub use pool::{PoolConfig, PoolStats, SmtpPool, TargetStats, Timeouts};
pub use target::{PoolKey, RelayTarget, TlsMode};
pub use tls_failure::TlsFailure;
pub use transaction::{Envelope, SessionTls, TransactionOutcome};
pub use trust::RelayTrust;
