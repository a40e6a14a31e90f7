//! Delivery: turning a queued message into bytes on a remote SMTP server.
//!
//! - [`worker`] reads the queues (transactional first), and records outcomes through
//!   `sluice-store`,
//! - [`routing`] decides where a domain's mail goes (relay or MX, RFC 5321 §5.1),
//! - [`providers`] and the worker's shaping keep each (source IP × mailbox provider)
//!   within its limits,
//! - [`dnsbl`] watches the pools' source addresses on DNS blocklists and takes a
//!   listed one out of rotation,
//! - [`retry`] says when a deferred message is tried again,
//! - [`mime`] builds the RFC 5322 message,
//! - [`tls_policy`] applies recipient domains' MTA-STS policies and counts TLS
//!   outcomes for TLS-RPT (RFC 8461, RFC 8460),
//! - [`config`] is the `[delivery]` section of the configuration, with its defaults.
//!
//! What it stands on: `sluice-smtp-client` speaks SMTP (connection, TLS, AUTH, pool),
//! and `sluice-domains` owns DKIM keys and signing, domain verification and the one
//! DNS resolver builder that routing uses too.

pub mod config;
pub mod dnsbl;
pub mod mime;
pub mod providers;
pub mod retry;
pub mod routing;
pub mod tls_policy;
pub mod worker;
