//! Delivery: turning a queued message into bytes on a remote SMTP server.
//!
//! - [`mime`] builds the RFC 5322 message,
//! - [`dkim`] generates keys and signs (CPU work: callers run it off the reactor),
//! - [`domains`] verifies sending domains' DNS and moves their keys through rotation,
//! - [`smtp`] holds the client and its connection pool (TCP_NODELAY, source address
//!   binding, reuse without a NOOP per message, capped concurrency),
//! - [`worker`] reads the queues and records outcomes through `sluice-store`,
//! - [`config`] is the `[delivery]` section of the configuration, with its defaults.

pub mod config;
pub mod dkim;
pub mod domains;
pub mod mime;
pub mod providers;
pub mod retry;
pub mod routing;
pub mod smtp;
pub mod worker;
